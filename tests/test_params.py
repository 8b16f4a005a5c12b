import pytest

from ganflow.params import ParamsError, load_params, parse_params


def test_shipped_params_are_valid(base_params):
    p = parse_params(base_params)
    assert p.experiment("pix2pix").dataset == "lfw_faces"
    assert p.train["pix2pix"].lr == pytest.approx(2e-4)


def test_unknown_key_is_named(base_params):
    base_params["train"]["pix2pix"]["lrate"] = 0.1
    with pytest.raises(ParamsError, match=r"train\.pix2pix\.lrate"):
        parse_params(base_params)


def test_wrong_type_is_named(base_params):
    base_params["train"]["pix2pix"]["steps"] = "many"
    with pytest.raises(ParamsError, match=r"train\.pix2pix\.steps"):
        parse_params(base_params)


def test_every_problem_listed_at_once(base_params):
    base_params["train"]["pix2pix"]["batch_size"] = -1
    base_params["datasets"]["lfw_faces"]["image_size"] = 48
    with pytest.raises(ParamsError) as err:
        parse_params(base_params)
    msg = str(err.value)
    assert "train.pix2pix.batch_size" in msg and "datasets.lfw_faces.image_size" in msg
    assert "power of two" in msg


def test_missing_dataset_name_is_named(base_params):
    base_params["experiments"]["pix2pix"]["dataset"] = "celebb"
    with pytest.raises(ParamsError, match=r"experiments\.pix2pix\.dataset: unknown dataset 'celebb'"):
        parse_params(base_params)


def test_model_net_options_validated_by_the_model(base_params):
    base_params["train"]["pix2pix"]["net"]["norm"] = "group"
    with pytest.raises(ParamsError, match=r"train\.pix2pix\.net\.norm"):
        parse_params(base_params)


def test_params_are_frozen(base_params):
    p = parse_params(base_params)
    with pytest.raises(Exception):
        p.train["pix2pix"].lr = 1.0


def test_bad_yaml_names_the_file(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("train: [unclosed\n")
    with pytest.raises(ParamsError, match="params.yaml: not valid YAML"):
        load_params(f)
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")
