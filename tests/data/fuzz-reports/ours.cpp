// Made ours-h5dread-into-short-buffer.log beside it (run from this folder; no leak check: detect_leaks=0):
//   clang++ -g -fsanitize=address ours.cpp -I/usr/include/hdf5/serial -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5
// A caller bug: H5Dread into a buffer smaller than the selection (the overflow shows inside libhdf5).
#include <hdf5.h>
#include <vector>
int main() {
  hsize_t n = 100;
  std::vector<float> data(n, 1.0f);
  hid_t f = H5Fcreate("/tmp/engine_ours_x.h5", H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t s = H5Screate_simple(1, &n, nullptr);
  hid_t d = H5Dcreate2(f, "x", H5T_NATIVE_FLOAT, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data());
  H5Dclose(d); H5Fclose(f);
  f = H5Fopen("/tmp/engine_ours_x.h5", H5F_ACC_RDONLY, H5P_DEFAULT);
  d = H5Dopen2(f, "x", H5P_DEFAULT);
  float* small = new float[10];
  H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, small);
  return int(small[0]);
}
