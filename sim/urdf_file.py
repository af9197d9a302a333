"""A user's URDF file, checked before PyBullet builds anything from it.

PyBullet reports a bad URDF on stdout and raises a bare ``error``, or worse, builds a body from NaN
numbers that then leaves the simulation. These checks name what is wrong (the path, the link, the
element, the value) as a :class:`RobotModelError` on ``robot.urdf_path``, like any other bad field.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

from sim.params import TaskParamError, short_repr


class RobotModelError(TaskParamError):
    """The user's URDF is missing, malformed, or has no joint to actuate.

    A :class:`~sim.params.TaskParamError` (and so a ``ValueError``) on ``robot.urdf_path``, so the
    GUI and CLI report it like any other bad field: the message names the field, the path and what
    is wrong.
    """

    def __init__(self, urdf_path: str, problem: str) -> None:
        super().__init__("robot.urdf_path", urdf_path, problem)


def checked_urdf_path(urdf_path: str) -> tuple[Path, ET.Element]:
    """The path and its XML root, once it names an existing, well-formed ``<robot>`` file whose
    numbers are finite; else RobotModelError. Nothing is built before these checks pass."""
    try:
        path = Path(urdf_path).expanduser()
    except RuntimeError as err:  # "~user" of a user this machine does not have
        raise RobotModelError(urdf_path, f"the path of an existing URDF file ({err})") from err
    try:
        is_dir, is_file = path.is_dir(), path.is_file()
    except OSError as err:  # a name too long for the file system
        raise RobotModelError(urdf_path, f"the path of an existing URDF file ({err.strerror})") from err
    if is_dir:
        raise RobotModelError(urdf_path, "a URDF file (this is a directory, not a URDF file)")
    if not is_file:
        raise RobotModelError(urdf_path, f"the path of an existing URDF file (nothing at {_absolute(path)})")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise RobotModelError(urdf_path, f"a well-formed URDF file (XML error: {err})") from err
    except OSError as err:
        raise RobotModelError(urdf_path, f"a readable URDF file ({err})") from err
    if root.tag != "robot":
        raise RobotModelError(urdf_path, f"a URDF file, whose root element is <robot> (found <{root.tag}>)")
    _check_urdf_numbers(urdf_path, root)
    return path, root


def _absolute(path: Path) -> str:
    """The absolute path, quoted and shortened for a one-line message."""
    try:
        return short_repr(str(path.resolve()))
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte
        return short_repr(str(path))


_NUMERIC_ATTRIBUTES = {
    "mass": ("value",),
    "inertia": ("ixx", "ixy", "ixz", "iyy", "iyz", "izz"),
    "origin": ("xyz", "rpy"),
    "axis": ("xyz",),
    "limit": ("lower", "upper", "effort", "velocity"),
    "dynamics": ("damping", "friction"),
    "box": ("size",),
    "cylinder": ("radius", "length"),
    "capsule": ("radius", "length"),
    "sphere": ("radius",),
    "mesh": ("scale",),
}
"""URDF elements and attributes holding numbers PyBullet builds the body from."""


def _check_urdf_numbers(urdf_path: str, root: ET.Element) -> None:
    """Refuse NaN or infinite numbers (and negative masses) before PyBullet builds a body from them.

    PyBullet loads ``<mass value="nan"/>`` without complaint, and the body then leaves the
    simulation on its first step; the message names the link or joint, the element and the value.
    """
    for owner in [*root.iter("link"), *root.iter("joint")]:
        for element in owner.iter():
            for attribute in _NUMERIC_ATTRIBUTES.get(element.tag, ()):
                text = element.get(attribute)
                if text is None:
                    continue
                try:
                    numbers = [float(word) for word in text.split()]
                except ValueError:
                    continue  # PyBullet's own parser reports text that is not a number
                where = f"{owner.tag} {owner.get('name')!r}: <{element.tag} {attribute}={short_repr(text)}>"
                if not all(math.isfinite(x) for x in numbers):
                    raise RobotModelError(urdf_path, f"a URDF with finite numbers ({where})")
                if element.tag == "mass" and numbers and numbers[0] < 0.0:
                    raise RobotModelError(urdf_path, f"a URDF with masses >= 0 ({where})")


def missing_mesh(root: ET.Element, folder: Path) -> tuple[str, str] | None:
    """The first mesh file a link names that exists nowhere PyBullet looks, with the link's name.

    Asked only after PyBullet refused the file (its reason goes to stdout, not to the error), so a
    mesh found by a search path this guess does not know can never block a loadable URDF.
    """
    for link in root.iter("link"):
        for mesh in link.iter("mesh"):
            name = mesh.get("filename", "")
            relative = name.split("://", 1)[1] if "://" in name else name
            candidates = [Path(relative)] if Path(relative).is_absolute() else []
            candidates += [base / relative for base in (folder, *folder.parents)]
            if not any(_exists(candidate) for candidate in candidates):
                return name, str(link.get("name"))
    return None


def _exists(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False
