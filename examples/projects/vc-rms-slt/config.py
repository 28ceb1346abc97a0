"""Data of the rms -> slt voice conversion project (the toolkit's flat config style).

The data folder is `exp/data/` next to this file (what reproduce.sh makes), or the folder named by
the environment variable VC_RMS_SLT_DATA. prepare.py writes it: src_mgc/ (input: the rms
mel-cepstrum), tgt_mgc/ (output: the slt mel-cepstrum on the rms frames), scp/*.lst.
"""
import os

_data = os.environ.get("VC_RMS_SLT_DATA") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "exp", "data")

trn_set_name = "vc_rms_slt_trn"
val_set_name = "vc_rms_slt_val"
trn_list = os.path.join(_data, "scp", "train.lst")
val_list = os.path.join(_data, "scp", "val.lst")

# 25 = mel-cepstrum order 24 (alpha 0.42) + c0, every 5 ms at 16 kHz (80 samples)
input_dirs = [os.path.join(_data, "src_mgc")]
input_dims = [25]
input_exts = [".mgc"]
input_reso = [80]
input_norm = [True]

output_dirs = [os.path.join(_data, "tgt_mgc")]
output_dims = [25]
output_exts = [".mgc"]
output_reso = [80]
output_norm = [True]

wav_samp_rate = 16000
truncate_seq = None
minimum_len = None

test_set_name = "vc_rms_slt_test"
test_list = os.path.join(_data, "scp", "test.lst")
test_input_dirs = input_dirs
test_output_dirs = []

# read by model.py
options = {"hidden": 64, "blocks": 8}
