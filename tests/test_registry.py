import pytest

from ganzoo.errors import PluginError, UsageError
from ganzoo.registry import Registry


def test_register_get_and_list_with_wildcards():
    reg = Registry("model")
    reg.register("acgan", 1, owner="a")
    reg.register("cgan", 2, owner="b")
    reg.register("dcgan", 3, owner="b")
    assert reg.get("cgan") == 2
    assert reg.list() == ["acgan", "cgan", "dcgan"]
    assert reg.list("*cgan") == ["acgan", "cgan", "dcgan"]
    assert reg.list("?cgan") == ["acgan", "dcgan"]
    assert reg.list("x*") == []
    assert reg.owner("dcgan") == "b"


def test_duplicate_name_is_an_error_naming_both_owners():
    reg = Registry("model")
    reg.register("acgan", 1, owner="first")
    with pytest.raises(PluginError, match="registered twice.*first.*second"):
        reg.register("acgan", 2, owner="second")
    assert reg.get("acgan") == 1


def test_unknown_name_suggests_close_matches():
    reg = Registry("model")
    for name in ("acgan", "dcgan", "wgan-gp"):
        reg.register(name, name)
    with pytest.raises(UsageError, match=r"unknown model 'acgn'; did you mean 'acgan'"):
        reg.get("acgn")
    with pytest.raises(UsageError, match="choose from acgan, dcgan, wgan-gp"):
        reg.get("zzzzzz")
