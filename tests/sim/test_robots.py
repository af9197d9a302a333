"""Robots: every one loads on every terrain, its parameters are really applied, and it behaves."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pybullet
import pytest

from sim.bullet import BulletSim
from sim.params import ROBOT_NAMES, TERRAIN_KINDS, RobotParams, TaskParamError, TerrainParams
from sim.robots import (
    A1_URDF,
    ROBOT_GEOMETRY_FIELDS,
    RobotHandle,
    apply_robot_dynamics,
    load_robot,
    spawn_height,
    stable_damping,
)
from sim.terrain import Terrain, apply_terrain_dynamics, build_terrain
from sim.urdf_file import RobotModelError

BUILTIN = [name for name in ROBOT_NAMES if name != "urdf"]
PROCEDURAL = ["half_cheetah", "ant", "hexapod"]


@pytest.fixture
def sim() -> Iterator[BulletSim]:
    with BulletSim() as client:
        client.setPhysicsEngineParameter(fixedTimeStep=1.0 / 240.0)
        yield client


def make_world(sim: BulletSim, params: RobotParams, kind: str = "flat") -> tuple[Terrain, RobotHandle]:
    terrain_params = TerrainParams(kind=kind, slope_deg=8.0, rough_amplitude_m=0.1, step_rise_m=0.1)
    terrain = build_terrain(sim, terrain_params)
    apply_terrain_dynamics(sim, terrain, terrain_params)
    z = terrain.height_at(0.0, 0.0) + spawn_height(params)
    return terrain, load_robot(sim, params, position=(0.0, 0.0, z))


def torso_position(sim: BulletSim, robot: RobotHandle) -> np.ndarray:
    if robot.torso_link < 0:
        return np.asarray(sim.getBasePositionAndOrientation(robot.body_id)[0])
    return np.asarray(sim.getLinkState(robot.body_id, robot.torso_link)[0])


def step(sim: BulletSim, robot: RobotHandle, action: np.ndarray) -> None:
    """One physics step as the env drives it: PD towards the target, or torque = action * limit."""
    if robot.control == "pd":
        states = sim.getJointStates(robot.body_id, robot.joint_indices)
        q, qd = np.array([s[0] for s in states]), np.array([s[1] for s in states])
        target = robot.nominal_pose + action * robot.action_scale_rad
        torque = np.clip(robot.pd_kp * (target - q) - robot.pd_kd * qd, -robot.max_torques, robot.max_torques)
    else:
        torque = action * robot.max_torques
    sim.setJointMotorControlArray(robot.body_id, robot.joint_indices, pybullet.TORQUE_CONTROL, forces=list(torque))
    sim.stepSimulation()


def test_geometry_fields_are_robot_fields() -> None:
    assert set(ROBOT_GEOMETRY_FIELDS) <= set(RobotParams.__dataclass_fields__)


@pytest.mark.parametrize("kind", TERRAIN_KINDS)
@pytest.mark.parametrize("name", BUILTIN)
def test_every_robot_lands_on_every_terrain(sim: BulletSim, name: str, kind: str) -> None:
    terrain, robot = make_world(sim, RobotParams(name=name), kind)
    start = torso_position(sim, robot)
    assert start[2] == pytest.approx(terrain.height_at(0.0, 0.0) + robot.spawn_height, abs=0.05)
    for _ in range(120):
        step(sim, robot, np.zeros(len(robot.joint_indices)))
    assert sim.getContactPoints(robot.body_id, terrain.body_id), "the robot never touched the ground"
    end = torso_position(sim, robot)
    assert np.all(np.isfinite(end))
    assert end[2] - terrain.height_at(end[0], end[1]) > 0.1  # resting on the ground, not through it


@pytest.mark.parametrize("name", BUILTIN)
def test_handle_is_consistent(sim: BulletSim, name: str) -> None:
    _, robot = make_world(sim, RobotParams(name=name))
    n = len(robot.joint_indices)
    assert n == len(robot.joint_names) == len(robot.max_torques) == len(robot.nominal_pose) > 0
    assert robot.joint_lower.shape == robot.joint_upper.shape == (n,)
    assert np.all(robot.joint_lower <= robot.nominal_pose) and np.all(robot.nominal_pose <= robot.joint_upper)
    assert len(robot.nominal_masses) == len(robot.nominal_inertias) == sim.getNumJoints(robot.body_id) + 1
    assert robot.planar == (name == "half_cheetah") == (robot.torso_link >= 0) == (robot.fall_height is None)
    assert robot.control == ("pd" if name == "a1" else "torque")


def test_half_cheetah_and_ant_have_sane_masses_and_torques(sim: BulletSim) -> None:
    _, cheetah = make_world(sim, RobotParams(name="half_cheetah"))
    assert sum(cheetah.nominal_masses) == pytest.approx(14.0, rel=1e-3)
    assert list(cheetah.max_torques) == [120.0, 90.0, 60.0, 120.0, 60.0, 30.0]
    assert cheetah.joint_names == ("bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot")
    with BulletSim() as other:
        _, ant = make_world(other, RobotParams(name="ant"))
    assert 10.0 <= sum(ant.nominal_masses) <= 20.0
    assert len(ant.joint_indices) == 8


@pytest.mark.parametrize("name", BUILTIN)
def test_dynamics_are_applied(sim: BulletSim, name: str) -> None:
    _, robot = make_world(sim, RobotParams(name=name))
    params = RobotParams(name=name, mass_scale=1.7, payload_kg=4.0, foot_friction=0.6)
    apply_robot_dynamics(sim, robot, params)
    for link, (mass, inertia) in enumerate(zip(robot.nominal_masses, robot.nominal_inertias, strict=True), start=-1):
        info = sim.getDynamicsInfo(robot.body_id, link)
        assert info[1] == pytest.approx(0.6) and info[5] == pytest.approx(1.0)  # friction, restitution
        if mass > 0.0:
            expected = mass * 1.7 + (4.0 if link == robot.torso_link else 0.0)
            assert info[0] == pytest.approx(expected, rel=1e-6)
            assert info[2] == pytest.approx([i * expected / mass for i in inertia], rel=1e-5)


def _joint_speed_after_spin(damping: float) -> float:
    """Spin one hip of a hexapod floating without gravity or ground: only damping slows it."""
    with BulletSim() as sim:
        robot = load_robot(sim, RobotParams(name="hexapod", joint_damping=damping), position=(0.0, 0.0, 1.0))
        joint = robot.joint_indices[0]
        sim.resetJointState(robot.body_id, joint, 0.0, 4.0)
        for _ in range(12):
            sim.stepSimulation()
        return abs(float(sim.getJointState(robot.body_id, joint)[1]))


def test_joint_damping_slows_joints() -> None:
    free, damped = _joint_speed_after_spin(0.0), _joint_speed_after_spin(2.0)
    assert free > 1.0
    assert damped < 0.5 * free


@pytest.mark.parametrize("name", BUILTIN)
def test_strongest_damping_stays_stable(sim: BulletSim, name: str) -> None:
    """Explicit damping beyond ~2 I/dt explodes; the cap keeps the schema's maximum safe."""
    _, robot = make_world(sim, RobotParams(name=name, joint_damping=5.0))
    rng = np.random.default_rng(1)
    for _ in range(60):
        action = rng.uniform(-1.0, 1.0, len(robot.joint_indices))
        for _ in range(4):
            step(sim, robot, action)
    speeds = [abs(state[1]) for state in sim.getJointStates(robot.body_id, robot.joint_indices)]
    assert max(speeds) < 30.0


@pytest.mark.parametrize("name", [*PROCEDURAL, "a1"])
def test_limb_length_scale_changes_the_body(name: str) -> None:
    short, long = (spawn_height(RobotParams(name=name, limb_length_scale=s)) for s in (0.8, 1.25))
    assert long > 1.15 * short


def test_robot_size_orders_the_robots_and_grows_with_limb_length() -> None:
    """The following camera frames robots by this size: the A1 is the smallest, the ant the largest."""

    def size(params: RobotParams) -> float:
        with BulletSim() as sim:
            return make_world(sim, params)[1].size_m

    sizes = {name: size(RobotParams(name=name)) for name in ("a1", "hexapod", "half_cheetah", "ant")}
    assert list(sizes.values()) == sorted(sizes.values()) and 0.5 < sizes["a1"] < 1.0 < sizes["ant"] < 3.0
    assert size(RobotParams(name="ant", limb_length_scale=1.4)) > 1.2 * sizes["ant"]


@pytest.mark.parametrize("name", PROCEDURAL)
def test_limb_length_scale_keeps_the_torso(sim: BulletSim, name: str) -> None:
    _, normal = make_world(sim, RobotParams(name=name))
    with BulletSim() as other:
        _, scaled = make_world(other, RobotParams(name=name, limb_length_scale=1.4))
    torso = max(0, normal.torso_link + 1)  # index into nominal_masses
    assert scaled.nominal_masses[torso] == pytest.approx(normal.nominal_masses[torso])
    assert sum(scaled.nominal_masses) > sum(normal.nominal_masses)  # longer legs weigh more


@pytest.mark.parametrize("name", ["a1", "hexapod"])
def test_stands_with_zero_action(sim: BulletSim, name: str) -> None:
    terrain, robot = make_world(sim, RobotParams(name=name))
    assert robot.fall_height is not None
    for _ in range(240):
        step(sim, robot, np.zeros(len(robot.joint_indices)))
        position = torso_position(sim, robot)
        assert position[2] - terrain.height_at(position[0], position[1]) > robot.fall_height
    assert position[2] > 0.8 * robot.spawn_height


@pytest.mark.parametrize("kind", ["flat", "rough"])
@pytest.mark.parametrize("name", BUILTIN)
def test_random_actions_do_not_blow_up(sim: BulletSim, name: str, kind: str) -> None:
    _, robot = make_world(sim, RobotParams(name=name, motor_strength_scale=3.0), kind)
    rng = np.random.default_rng(0)
    for _ in range(150):
        action = rng.uniform(-1.0, 1.0, len(robot.joint_indices))
        for _ in range(4):
            step(sim, robot, action)
        linear, angular = sim.getBaseVelocity(robot.body_id)
        assert np.all(np.isfinite(torso_position(sim, robot)))
        assert np.linalg.norm(linear) < 20.0 and np.linalg.norm(angular) < 100.0


# ----------------------------------------------------------------------------- user URDF
LINK = """<link name="{name}">
  <inertial>
    <mass value="{mass}"/><inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/>
  </inertial>
  <collision><geometry><box size="{size}"/></geometry></collision>
</link>"""
JOINT = """<joint name="{name}" type="{kind}">
  <parent link="{parent}"/><child link="{child}"/><origin xyz="{xyz}"/><axis xyz="0 1 0"/>
  <limit lower="-1" upper="1" effort="{effort}" velocity="10"/>
</joint>"""


def write_urdf(path: Path, kinds: tuple[str, str], efforts: tuple[float, float] = (7.0, 0.0)) -> str:
    """A 2 kg box with two legs on joints ``hip_a``, ``hip_b``; a continuous joint gets no limits."""
    parts = [
        LINK.format(name="body", mass=2.0, size="0.4 0.2 0.1"),
        LINK.format(name="leg_a", mass=0.3, size="0.05 0.05 0.3"),
        LINK.format(name="leg_b", mass=0.3, size="0.05 0.05 0.3"),
        JOINT.format(name="hip_a", kind=kinds[0], parent="body", child="leg_a", xyz="0.15 0 -0.2", effort=efforts[0]),
        JOINT.format(name="hip_b", kind=kinds[1], parent="body", child="leg_b", xyz="-0.15 0 -0.2", effort=efforts[1]),
    ]
    text = "\n".join(parts).replace('<limit lower="-1" upper="1" effort="0.0"', '<limit effort="0.0"')
    path.write_text('<?xml version="1.0"?>\n<robot name="user">\n' + text + "\n</robot>\n")
    return str(path)


def test_bundled_a1_is_the_stock_a1_with_lighter_visuals(sim: BulletSim) -> None:
    """Same links, joints, masses, inertias and collision shapes as pybullet_data's A1; ~10x fewer triangles."""
    import pybullet_data

    stock_urdf = Path(pybullet_data.getDataPath()) / "a1" / "a1.urdf"
    bodies = [int(sim.loadURDF(str(path), flags=pybullet.URDF_USE_INERTIA_FROM_FILE)) for path in (stock_urdf, A1_URDF)]

    def physics(body: int) -> list[object]:
        joints = [sim.getJointInfo(body, j)[:13] for j in range(sim.getNumJoints(body))]
        links = range(-1, sim.getNumJoints(body))
        dynamics = [sim.getDynamicsInfo(body, link)[:3] for link in links]
        shapes = [sorted(s[2:5] for s in sim.getCollisionShapeData(body, link)) for link in links]
        return [joints, dynamics, shapes]

    assert physics(bodies[0]) == physics(bodies[1])

    def triangles(folder: Path) -> int:
        return sum(line.startswith("f ") for mesh in folder.glob("*.obj") for line in mesh.read_text().splitlines())

    assert triangles(A1_URDF.parent / "meshes") * 5 < triangles(stock_urdf.parent / "meshes")


def test_user_urdf_loads_with_its_revolute_joints(sim: BulletSim, tmp_path: Path) -> None:
    urdf = write_urdf(tmp_path / "user.urdf", ("revolute", "continuous"))
    _, robot = make_world(sim, RobotParams(name="urdf", urdf_path=urdf))
    assert robot.joint_names == ("hip_a", "hip_b")
    assert list(robot.max_torques) == [7.0, 20.0]  # a zero effort falls back to 20 N·m
    assert robot.joint_lower[0] == pytest.approx(-1.0) and robot.joint_upper[1] == np.inf
    assert robot.control == "torque" and robot.torso_link == -1
    assert robot.spawn_height == pytest.approx(0.2 + 0.15 + 0.02, abs=0.01)  # leg bottom + clearance


def test_user_urdf_with_unphysical_inertia_still_loads(sim: BulletSim, tmp_path: Path) -> None:
    path = Path(write_urdf(tmp_path / "odd.urdf", ("revolute", "revolute")))
    path.write_text(path.read_text().replace('ixx="0.01"', 'ixx="1.0"', 1))  # ixx > iyy + izz
    _, robot = make_world(sim, RobotParams(name="urdf", urdf_path=str(path)))
    assert sim.getDynamicsInfo(robot.body_id, -1)[0] == pytest.approx(2.0)
    for _ in range(60):
        step(sim, robot, np.ones(2))
    assert np.all(np.isfinite(torso_position(sim, robot)))


def test_damping_is_uncapped_when_mobility_is_unknown(sim: BulletSim) -> None:
    _, robot = make_world(sim, RobotParams(name="a1"))
    params = RobotParams(name="a1", joint_damping=3.0)
    assert stable_damping(sim, robot, params) < 1.0
    assert stable_damping(sim, dataclasses.replace(robot, joint_mobility=0.0), params) == 3.0


def test_user_urdf_global_scaling(tmp_path: Path) -> None:
    urdf = write_urdf(tmp_path / "user.urdf", ("revolute", "revolute"))
    base, scaled = (spawn_height(RobotParams(name="urdf", urdf_path=urdf, limb_length_scale=s)) for s in (1.0, 1.5))
    assert scaled - 0.02 == pytest.approx(1.5 * (base - 0.02), rel=0.02)


def expect_model_error(sim: BulletSim, urdf_path: str, words: str) -> RobotModelError:
    with pytest.raises(RobotModelError, match=words) as caught:
        load_robot(sim, RobotParams(name="urdf", urdf_path=urdf_path), position=(0.0, 0.0, 1.0))
    message = str(caught.value)
    assert "robot.urdf_path" in message and urdf_path in message
    assert isinstance(caught.value, TaskParamError) and isinstance(caught.value, ValueError)
    return caught.value


def test_missing_urdf(sim: BulletSim, tmp_path: Path) -> None:
    expect_model_error(sim, str(tmp_path / "nowhere.urdf"), "existing URDF file")


def test_malformed_urdf(sim: BulletSim, tmp_path: Path) -> None:
    path = tmp_path / "broken.urdf"
    path.write_text('<robot name="r"><link name="a"></robot>')
    expect_model_error(sim, str(path), "well-formed")


def test_urdf_pybullet_cannot_load(sim: BulletSim, tmp_path: Path) -> None:
    path = tmp_path / "dangling.urdf"
    joint = JOINT.format(name="j", kind="revolute", parent="body", child="ghost", xyz="0 0 0", effort=1.0)
    path.write_text(f'<robot name="r">{LINK.format(name="body", mass=1.0, size="0.1 0.1 0.1")}{joint}</robot>')
    expect_model_error(sim, str(path), "PyBullet can load")


def test_urdf_without_revolute_joint(sim: BulletSim, tmp_path: Path) -> None:
    urdf = write_urdf(tmp_path / "rigid.urdf", ("fixed", "prismatic"))
    error = expect_model_error(sim, urdf, "revolute or continuous")
    assert "fixed, prismatic" in str(error)
    assert sim.getNumBodies() == 0  # the rejected body was removed again


def test_a_directory_is_named_as_such(sim: BulletSim, tmp_path: Path) -> None:
    expect_model_error(sim, str(tmp_path), "a directory, not a URDF file")


@pytest.mark.parametrize("where", ["visual", "collision"])
def test_a_missing_mesh_names_the_mesh_file_and_the_link(sim: BulletSim, tmp_path: Path, where: str) -> None:
    path = Path(write_urdf(tmp_path / "meshy.urdf", ("revolute", "revolute")))
    mesh = f'<{where}><geometry><mesh filename="meshes/shin.stl"/></geometry></{where}>'
    path.write_text(path.read_text().replace('<link name="leg_b">', f'<link name="leg_b">{mesh}', 1))
    error = expect_model_error(sim, str(path), "meshes exist")
    assert "link 'leg_b' uses 'meshes/shin.stl', which is not there" in str(error)


@pytest.mark.parametrize("bad", ['<mass value="nan"/>', '<mass value="-1"/>', '<origin xyz="0 inf 0"/>'])
def test_a_urdf_with_nan_or_infinite_numbers_is_refused_before_it_builds(
    sim: BulletSim, tmp_path: Path, bad: str
) -> None:
    path = Path(write_urdf(tmp_path / "nan.urdf", ("revolute", "revolute")))
    text = path.read_text()
    if "mass" in bad:
        text = text.replace('<mass value="0.3"/>', bad, 1)
    else:
        text = text.replace('<origin xyz="0.15 0 -0.2"/>', bad, 1)
    path.write_text(text)
    error = expect_model_error(sim, str(path), "finite numbers|masses >= 0")
    assert ("link 'leg_a'" if "mass" in bad else "joint 'hip_a'") in str(error)
    assert sim.getNumBodies() == 0  # nothing was built
