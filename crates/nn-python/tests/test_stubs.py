"""The type stubs (nn.pyi) and the docstrings describe the module as it is."""

import ast
import pathlib

import pytest

import nn

STUBS = pathlib.Path(__file__).resolve().parents[1] / "nn.pyi"


def stub_tree():
    return ast.parse(STUBS.read_text())


def test_every_stubbed_name_exists_with_its_methods():
    for node in stub_tree().body:
        if isinstance(node, ast.ClassDef):
            cls = getattr(nn, node.name)
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    assert hasattr(cls, item.name), f"{node.name}.{item.name}"
                elif isinstance(item, ast.AnnAssign):
                    assert item.target.id in dir(cls) or item.target.id in {"lr"}, f"{node.name}.{item.target.id}"
        elif isinstance(node, ast.FunctionDef):
            assert callable(getattr(nn, node.name)), node.name


def test_every_public_name_is_stubbed_and_documented():
    stubbed = {n.name for n in stub_tree().body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    stubbed |= {t.id for n in stub_tree().body if isinstance(n, ast.Assign) for t in n.targets}
    public = {name for name in dir(nn) if not name.startswith("_") and name != "nn"}
    assert public <= stubbed | {"ArrayLike"}, public - stubbed
    for name in public:
        assert getattr(nn, name).__doc__, name


@pytest.mark.parametrize("method", ["forward_pass", "train", "loss", "backprop", "fit", "predict", "predict_proba", "evaluate", "save", "load"])
def test_methods_have_docstrings_and_signatures(method):
    function = getattr(nn.NeuralNetwork, method)
    assert function.__doc__ and len(function.__doc__) > 40
    assert function.__text_signature__ is not None
