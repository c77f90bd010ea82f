"""`simengine.registry.Registry`: registration, lookups, errors, normalisation, container protocol."""
import pytest

from simengine.errors import InputError
from simengine.registry import Registry


def _colors():
    colors = Registry("color")

    @colors.register("red")
    class Red:
        pass

    colors.add("blue", "BLUE")
    return colors, Red


def test_register_returns_the_object_and_get_finds_it():
    colors, Red = _colors()
    assert Red.__name__ == "Red"  # the decorator hands the class back unchanged
    assert colors.get("red") is Red
    assert colors["blue"] == "BLUE"
    assert colors.key("red") == "red"
    assert dict(colors.items()) == {"red": Red, "blue": "BLUE"}


def test_duplicate_registration_is_a_value_error():
    colors, Red = _colors()
    colors.add("red", Red)  # the same object again is harmless
    with pytest.raises(ValueError, match="color name 'red' is already registered"):
        colors.add("red", object())

    with pytest.raises(ValueError, match="already registered"):
        @colors.register("blue")
        class Blue:
            pass
    assert colors.get("red") is Red and colors.get("blue") == "BLUE"


def test_unknown_name_is_an_input_error_naming_the_allowed_names():
    colors, _ = _colors()
    with pytest.raises(InputError, match=r"^color = 'green' is not one of \['blue', 'red'\]$"):
        colors.get("green")
    with pytest.raises(InputError, match=r"color = 'green' is not one of \['blue', 'red'\]"):
        colors["green"]
    with pytest.raises(InputError, match=r"color = 'green'"):
        colors.key("green")
    assert issubclass(InputError, ValueError)


def test_normalize_applies_to_lookups():
    shapes = Registry("shape", normalize=lambda name: name.lower().replace("-", "_"))
    shapes.add("round_box", 1)
    assert shapes.get("Round-Box") == 1
    assert shapes["ROUND_BOX"] == 1
    assert shapes.key("round-box") == "round_box"
    assert "Round-Box" in shapes
    with pytest.raises(InputError, match=r"shape = 'Cube' is not one of \['round_box'\]"):
        shapes.get("Cube")


def test_contains_iter_len_names():
    colors, _ = _colors()
    assert "red" in colors and "green" not in colors
    assert 3 not in colors  # non-string names are looked up by str() and simply absent
    assert list(colors) == ["red", "blue"]  # registration order
    assert sorted(colors) == colors.names() == ["blue", "red"]
    assert len(colors) == 2
    assert len(Registry("empty")) == 0 and Registry("empty").names() == []
    assert "color" in repr(colors) and "red" in repr(colors)
