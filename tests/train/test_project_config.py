"""config.py of a toolkit project: both styles, paths, and errors that name the variable."""
import os
import textwrap

import pytest
from projects import IN_MGC, OUT_DIM, make_tiny_project

from modulespack.train.project import ConfigError, Stream, load_config, load_model_module


def append(p, text):
    """Override config variables: later assignments win when config.py is imported."""
    with open(p.dir / "config.py", "a") as f:
        f.write(textwrap.dedent(text))


def test_merge_style_two_corpora(tmp_path):
    p = make_tiny_project(tmp_path, style="merge", subsets=2)
    c = load_config(p.dir)
    assert c.style == "merge" and c.path == p.dir / "config.py"
    assert c.inputs == [Stream(".mgc", IN_MGC, 80, True), Stream(".f0", 1, 80, True)]
    assert c.outputs == [Stream(".mgc", OUT_DIM, 80, True)]
    assert (c.in_dim, c.out_dim) == (IN_MGC + 1, OUT_DIM)
    assert (c.wav_samp_rate, c.truncate_seq, c.minimum_len) == (16000, None, None)
    assert [s.cache_name for s in c.train.subsets] == ["c0_trn", "c1_trn"]
    assert c.train.name == "c0_trn" and c.val.name == "c0_val"
    assert [s.names for s in c.train.subsets] == p.train
    sub = c.train.subsets[1]
    assert sub.input_dirs == [str(p.data / "c1" / "mgc"), str(p.data / "c1" / "f0")]
    assert sub.output_dirs == [str(p.data / "c1" / "target")]
    assert sub.list_file == str(p.list_file("c1", "train"))
    assert c.test is None                         # only checked for inference
    assert c.module.__file__ == str(p.dir / "config.py")
    assert c.optional_argument == [""] and c.options is None and c.input_trans_fns is None


def test_flat_style_paths_relative_to_the_project_not_the_cwd(tmp_path, monkeypatch):
    p = make_tiny_project(tmp_path, style="flat")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    c = load_config(p.dir)
    assert c.style == "flat"
    assert [s.cache_name for s in c.train.subsets] == ["tiny_trn"]
    assert c.train.subsets[0].input_dirs[0] == str(p.data / "c0" / "mgc")
    assert c.train.names == p.all_train and c.val.names == p.val[0]


def test_string_set_name_in_merge_style_names_each_corpus_as_the_toolkit(tmp_path):
    p = make_tiny_project(tmp_path, subsets=2)
    append(p, "trn_set_name = 'all_trn'\n")
    c = load_config(p.dir)
    assert [s.cache_name for s in c.train.subsets] == ["all_trn_sub_0", "all_trn_sub_1"]
    assert c.train.name == "all_trn_sub_0"


def test_val_list_none_means_no_validation_set(tmp_path):
    p = make_tiny_project(tmp_path, with_val=False)
    assert load_config(p.dir).val is None


def test_missing_directories_are_all_named_by_variable(tmp_path):
    p = make_tiny_project(tmp_path, subsets=2)
    append(p, "input_dirs[0][1] = '/nonexistent/f0'\noutput_dirs[1][0] = tmp + '/nope'\n")
    with pytest.raises(ConfigError) as e:
        load_config(p.dir)
    msg = str(e.value)
    assert str(p.dir / "config.py") in msg
    assert "input_dirs[0][1]: /nonexistent/f0 does not exist" in msg
    assert f"output_dirs[1][0]: {p.data / 'nope'} does not exist" in msg
    assert e.value.variable == "input_dirs[0][1]"


def test_missing_list_file_is_named(tmp_path):
    p = make_tiny_project(tmp_path, style="flat")
    os.remove(p.list_file("c0", "val"))
    with pytest.raises(ConfigError, match=r"val_list: .*c0_val\.lst does not exist"):
        load_config(p.dir)


@pytest.mark.parametrize("override, variable", [
    ("input_reso = [80]\n", "input_reso"),
    ("output_norm = [True, False]\n", "output_norm"),
    ("input_dirs = [input_dirs[0][:1], input_dirs[1]]\n", "input_dirs[0]"),
    ("trn_list = trn_list[:1]\n", "trn_list"),
    ("trn_set_name = ['a', 'a']\n", "trn_set_name"),
    ("input_reso = [80, 40]\n", "input_reso"),
    ("input_exts = ['mgc', '.f0']\n", "input_exts[0]"),
    ("input_dims = [0, 1]\n", "input_dims[0]"),
    ("truncate_seq = -5\n", "truncate_seq"),
    ("truncate_seq = 50\n", "truncate_seq"),         # under one 80-sample frame: it would never advance
    ("output_dirs = [[], []]\n", "output_dirs[0]"),
])
def test_disagreeing_or_bad_values_name_the_variable(tmp_path, override, variable):
    p = make_tiny_project(tmp_path, subsets=2)
    append(p, override)
    with pytest.raises(ConfigError) as e:
        load_config(p.dir)
    assert e.value.variable == variable, str(e.value)
    assert f"{variable}: " in str(e.value)


def test_wav_stream_needs_a_sample_rate(tmp_path):
    p = make_tiny_project(tmp_path, wav_output=True)
    append(p, "wav_samp_rate = None\n")
    with pytest.raises(ConfigError, match="wav_samp_rate: is None"):
        load_config(p.dir)


def test_inference_checks_only_the_test_set(tmp_path):
    p = make_tiny_project(tmp_path, subsets=2)
    append(p, "input_dirs[0][0] = '/gone'\n")
    c = load_config(p.dir, for_inference=True)
    assert c.train is None and c.val is None
    assert c.test.name == "tiny_test" and c.test.names == p.test[0]   # inline names
    assert c.test.subsets[0].output_dirs == [] and c.test.subsets[0].list_file is None
    append(p, "test_input_dirs = [['/gone', tmp + '/c0/f0']]\n")
    with pytest.raises(ConfigError, match=r"test_input_dirs\[0\]\[0\]: /gone does not exist"):
        load_config(p.dir, for_inference=True)


def test_flat_test_list_is_a_file(tmp_path):
    p = make_tiny_project(tmp_path, style="flat")
    c = load_config(p.dir, for_inference=True)
    assert c.test.names == p.test[0]
    assert c.test.subsets[0].list_file == str(p.list_file("c0", "test"))


def test_dotted_module_name_and_missing_config(tmp_path):
    p = make_tiny_project(tmp_path)
    (p.dir / "configs").mkdir()
    (p.dir / "configs" / "alt.py").write_text(
        (p.dir / "config.py").read_text().replace("'..', 'DATA'", "'..', '..', 'DATA'"))
    c = load_config(p.dir, "configs.alt")
    assert c.path == p.dir / "configs" / "alt.py" and c.train.names == p.all_train
    with pytest.raises(ConfigError, match=r"--module-config nothere: .*nothere\.py does not exist"):
        load_config(p.dir, "nothere")


def test_config_may_import_a_sibling_module(tmp_path):
    p = make_tiny_project(tmp_path, style="flat")
    (p.dir / "shared_settings.py").write_text("RATE = 22050\n")
    append(p, "from shared_settings import RATE\nwav_samp_rate = RATE\n")
    assert load_config(p.dir).wav_samp_rate == 22050


def test_model_module_imports_siblings_and_stays_per_project(tmp_path):
    a = make_tiny_project(tmp_path / "a")
    b = make_tiny_project(tmp_path / "b", wav_output=True)
    (a.dir / "blocks.py").write_text("WIDTH = 7\n")
    with open(a.dir / "model.py", "a") as f:
        f.write("\nfrom blocks import WIDTH\n")
    ma, mb = load_model_module(a.dir), load_model_module(b.dir)
    assert ma is not mb and ma.WIDTH == 7 and not hasattr(mb, "WIDTH")
    assert hasattr(ma, "Model") and hasattr(ma, "Loss")
    assert str(a.dir) not in __import__("sys").path
    with pytest.raises(ConfigError, match="--module-model net"):
        load_model_module(a.dir, "net")


def test_streams_only_without_the_data_folders(tmp_path):
    p = make_tiny_project(tmp_path)
    append(p, "input_dirs[0][0] = '/gone'\ntest_input_dirs = [['/gone']]\n")
    c = load_config(p.dir, data=False)
    assert (c.in_dim, c.out_dim, c.wav_samp_rate) == (IN_MGC + 1, OUT_DIM, 16000)
    assert c.train is None and c.val is None and c.test is None


def test_val_set_may_have_its_own_directories(tmp_path):
    p = make_tiny_project(tmp_path, subsets=1)
    append(p, "val_input_dirs = [[tmp + '/c0/mgc', '/val/f0']]\n")
    with pytest.raises(ConfigError) as e:
        load_config(p.dir)
    assert e.value.variable == "val_input_dirs[0][1]"


def test_list_none_takes_the_names_from_the_first_input_folder(tmp_path):
    p = make_tiny_project(tmp_path, style="flat", n_train=2, n_val=1, n_test=1)
    append(p, "trn_list = None\n")
    c = load_config(p.dir)
    # as the toolkit: every file of input_dirs[0] with input_exts[0]
    assert c.train.names == sorted(p.all_train + p.val[0] + p.test[0])
    assert c.train.subsets[0].list_file is None


def test_a_directory_shared_by_train_and_val_is_named_once(tmp_path):
    p = make_tiny_project(tmp_path, style="flat")     # val reads input_dirs too
    append(p, "input_dirs[0] = '/nonexistent/mgc'\n")
    with pytest.raises(ConfigError) as e:
        load_config(p.dir)
    assert str(e.value).count("input_dirs[0]: /nonexistent/mgc does not exist") == 1


def test_truncate_seq_under_one_frame_does_not_stop_inference(tmp_path):
    p = make_tiny_project(tmp_path, subsets=1, truncate_seq=50)
    assert load_config(p.dir, for_inference=True).truncate_seq == 50
