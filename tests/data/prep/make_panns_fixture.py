"""Writes panns_h5py.h5: a 2-clip PANNs-style waveform HDF5 made by h5py exactly as PANNs'
utils/dataset.py::pack_waveforms_to_hdf5 makes it (audio_name S20, waveform int16 (N, 320000), target bool
(N, 527), root attribute sample_rate int32), except that the datasets are gzip-compressed to keep the file
small. The samples are integer patterns so that tests/test_prep.cpp can recompute them exactly.
Run: python3 tests/data/prep/make_panns_fixture.py  (h5py 3.x, numpy)."""
import os

import h5py
import numpy as np

n = np.arange(320000)
wave = np.zeros((2, 320000), dtype=np.int16)
wave[0, :8000] = (n[:8000] * 37) % 2001 - 1000             # sawtooth, 8000 samples
wave[1, :8000] = np.where((n[:8000] // 40) % 2 == 1, 500, -500)  # square wave, 400 Hz
target = np.zeros((2, 527), dtype=bool)
target[0, [0, 137]] = True   # Speech, Music
target[1, [72, 74]] = True   # Animal, Dog

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "panns_h5py.h5")
with h5py.File(path, "w") as hf:
    hf.create_dataset("audio_name", data=np.array([b"Y--PJHxphWEs.wav", b"Y--ZhevVpy1s.wav"], dtype="S20"))
    hf.create_dataset("waveform", data=wave, dtype=np.int16, compression="gzip", chunks=(1, 320000))
    hf.create_dataset("target", data=target, dtype=bool, compression="gzip")
    hf.attrs.create("sample_rate", data=32000, dtype=np.int32)
