"""Regions: containment, outward normals, measures, boundary-part membership, pairing, bad geometries."""

from __future__ import annotations

import numpy as np
import pytest

from pinnrun.problem.regions import RegionError, SpaceTime, build_region, paired_translation
from pinnrun.problem.regions.polygon_shape import signed_area
from pinnrun.sampling.draw import draw
from pinnrun.spec.geometry_schema import Geometry

L_SHAPE = [[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]]
R_HOLE = 0.3
# name -> (geometry mapping, exact measure or None, measure tolerance)
GEOMETRIES = {
    "interval": ({"interval": [-1, 3]}, 4.0, 0),
    "rectangle": ({"rectangle": [[0, 1], [0, 2]]}, 2.0, 0),
    "box": ({"box": [[0, 1], [0, 2], [-1, 2]]}, 6.0, 0),
    "disk": ({"disk": {"center": [1, -1], "radius": 2}}, 4 * np.pi, 1e-12),
    "polygon": ({"polygon": L_SHAPE}, 3.0, 0),
    "polygon_clockwise": ({"polygon": L_SHAPE[::-1] + [L_SHAPE[-1]]}, 3.0, 0),
    "union": (
        {"union": [{"rectangle": [[0, 2], [0, 1]], "name": "a"}, {"rectangle": [[0, 1], [0, 2]], "name": "b"}]},
        3.0,
        4e-3,
    ),
    "difference": (
        {
            "difference": [
                {"rectangle": [[-1, 1], [-1, 1]], "name": "outer"},
                {"disk": {"center": [0, 0], "radius": R_HOLE}, "name": "hole"},
            ]
        },
        4 - np.pi * R_HOLE**2,
        4e-3,
    ),
    # two unit disks 1 apart: a lens of area 2 acos(1/2) - sqrt(3)/2
    "intersection": (
        {
            "intersection": [
                {"disk": {"center": [0, 0], "radius": 1}, "name": "left"},
                {"disk": {"center": [1, 0], "radius": 1}, "name": "right"},
            ]
        },
        2 * np.arccos(0.5) - np.sqrt(3) / 2,
        4e-3,
    ),
    "nested": (
        {
            "difference": [
                {
                    "union": [
                        {"rectangle": [[0, 2], [0, 1]], "name": "a"},
                        {"polygon": [[0, 0], [1, 0], [1, 2], [0, 2]], "name": "b"},
                    ],
                    "name": "plate",
                },
                {"disk": {"center": [0.5, 0.5], "radius": 0.2}, "name": "hole"},
            ]
        },
        3 - np.pi * 0.04,
        4e-3,
    ),
    "intervals": (
        {"difference": [{"interval": [0, 3], "name": "rod"}, {"interval": [1, 2], "name": "gap"}]},
        2.0,
        4e-3,
    ),
}


def region_of(name):
    if name == "spacetime_interval":
        return SpaceTime(build_region(Geometry.model_validate({"interval": [-5, 5]})), 0.0, 2.0)
    if name == "spacetime_difference":
        return SpaceTime(region_of("difference"), 1.0, 1.5)
    return build_region(Geometry.model_validate(GEOMETRIES[name][0]))


REGION_NAMES = list(GEOMETRIES) + ["spacetime_interval", "spacetime_difference"]


def size(region):
    box = region.bounding_box()
    return float(np.max(box[:, 1] - box[:, 0]))


@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_measure_is_exact_for_primitives_and_within_the_stated_accuracy_for_csg(name):
    _, exact, tolerance = GEOMETRIES[name]
    assert region_of(name).measure() == pytest.approx(exact, rel=tolerance, abs=0)


def test_spacetime_measures_multiply_by_the_time_span():
    st = region_of("spacetime_difference")
    assert st.measure() == pytest.approx(0.5 * region_of("difference").measure())
    assert st.part_measure("hole") == pytest.approx(0.5 * 2 * np.pi * R_HOLE, rel=1e-4)
    assert st.part_measure("initial") == pytest.approx(region_of("difference").measure())


@pytest.mark.parametrize(
    "name, part, length",
    [
        ("rectangle", "boundary", 6.0),
        ("rectangle", "top", 1.0),
        ("box", "front", 3.0),
        ("box", "boundary", 22.0),
        ("disk", "boundary", 4 * np.pi),
        ("polygon", "edge2", 1.0),
        ("polygon", "boundary", 8.0),
        ("interval", "boundary", 2.0),
        ("union", "boundary", 8.0),
        ("union", "a.right", 1.0),
        ("union", "b", 5.0),
        ("union", "b.bottom", 1.0),
        ("difference", "hole", 2 * np.pi * R_HOLE),
        ("difference", "outer", 8.0),
        ("difference", "boundary", 8 + 2 * np.pi * R_HOLE),
        ("intersection", "left", 2 * np.pi / 3),
        ("nested", "plate.a.right", 1.0),
        ("nested", "plate.b.edge3", 1.0),
        ("intervals", "boundary", 4.0),
        ("intervals", "gap.left", 1.0),
    ],
)
def test_part_measures(name, part, length):
    assert region_of(name).part_measure(part) == pytest.approx(length, rel=1e-3)


@pytest.mark.parametrize(
    "name, inside, outside, on_edge",
    [
        ("interval", [[0.5], [2.9]], [[3.1], [-1.01]], [[3.0], [-1]]),
        ("rectangle", [[0.5, 1.9]], [[1.01, 1], [0.5, -0.01]], [[1, 1], [0, 0]]),
        ("box", [[0.5, 1, 0]], [[0.5, 1, 2.1]], [[1, 2, 2]]),
        ("disk", [[1, 0.9]], [[3, 1], [2.5, 0.5]], [[3, -1], [1, 1]]),
        ("polygon", [[0.5, 1.5], [1.5, 0.5]], [[1.5, 1.5], [2.1, 0.5]], [[1, 1.5], [1.5, 1], [0, 0]]),
        ("polygon_clockwise", [[0.5, 1.5]], [[1.5, 1.5]], [[1, 1.5]]),
        ("union", [[0.5, 1.5], [1.5, 0.5]], [[1.5, 1.5]], [[1, 1.5], [2, 0.5]]),
        ("difference", [[0.9, 0.9], [0, 0.5]], [[0, 0], [0.1, 0.2], [1.2, 0]], [[0.3, 0], [1, 1]]),
        ("intersection", [[0.5, 0]], [[-0.5, 0], [1.5, 0]], [[0.5, np.sqrt(0.75)], [0, 0]]),
        ("intervals", [[0.5], [2.5]], [[1.5], [3.5]], [[1], [2], [0]]),
        ("spacetime_interval", [[0, 1]], [[0, 2.1], [5.1, 1]], [[5, 1], [0, 0]]),
    ],
)
def test_containment_closed_and_strict(name, inside, outside, on_edge):
    region = region_of(name)
    assert region.contains(np.array(inside, float)).all()
    assert region.contains(np.array(inside, float), strict=True).all()
    assert not region.contains(np.array(outside, float)).any()
    assert region.contains(np.array(on_edge, float)).all()
    assert not region.contains(np.array(on_edge, float), strict=True).any()


@pytest.mark.slow
@pytest.mark.parametrize("name", REGION_NAMES)
def test_every_drawn_part_point_is_on_its_part_with_an_outward_unit_normal(name):
    region = region_of(name)
    h = 1e-5 * size(region)
    assert region.part_names()[-1] == "boundary"
    for part in region.part_names():
        x, n = draw(region.part(part), "sobol", 7, 0, 64, 64)
        assert x.shape == (64, region.dim) and n.shape == (64, region.dim)
        assert region.on_part(part, x).all(), part
        assert region.contains(x).all() and not region.contains(x, strict=True).any(), part
        np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, rtol=1e-12)
        # outward: a small step along n leaves the region, a step against it enters
        assert not region.contains(x + h * n).any(), part
        assert region.contains(x - h * n, strict=True).all() or part == "initial", part
        if name != "spacetime_interval" and part != "initial":
            assert region.on_part("boundary", x).all(), part


@pytest.mark.slow
@pytest.mark.parametrize("name", REGION_NAMES)
def test_interior_points_are_inside_and_spread_uniformly(name):
    region = region_of(name)
    x, normals = draw(region.interior(), "sobol", 3, 0, 4096, 4096)
    assert normals is None and x.shape == (4096, region.dim)
    assert region.contains(x).all()
    # uniform: the share of points in the lower half of the bounding box (first axis) matches the
    # share of the region's measure there, estimated on an independent grid of the box
    box = region.bounding_box()
    grid = box[:, 0] + np.random.default_rng(0).random((200_000, region.dim)) * (box[:, 1] - box[:, 0])
    grid = grid[region.contains(grid)]
    middle = box[0].mean()
    assert np.mean(x[:, 0] < middle) == pytest.approx(np.mean(grid[:, 0] < middle), abs=0.02)


def test_disk_normals_are_radial_and_polygon_normals_do_not_depend_on_orientation():
    disk = region_of("disk")
    x, n = disk.part("boundary").map(np.linspace(0, 1, 9, endpoint=False)[:, None])
    np.testing.assert_allclose(n, (x - [1, -1]) / 2, atol=1e-15)
    for name in ("polygon", "polygon_clockwise"):
        polygon = region_of(name)
        x, n = draw(polygon.part("boundary"), "halton", 1, 0, 200, 200)
        # the L's outline: every normal is an axis direction pointing away from the interior
        assert set(map(tuple, np.round(n).astype(int))) == {(0, -1), (1, 0), (0, 1), (-1, 0)}
    assert region_of("polygon").part_names() == ("edge1", "edge2", "edge3", "edge4", "edge5", "edge6", "boundary")
    np.testing.assert_array_equal(region_of("polygon").part("edge1").map(np.array([[0.25]]))[1], [[0, -1]])


def test_boundary_points_are_shared_by_length():
    x, _ = draw(region_of("rectangle").part("boundary"), "sobol", 0, 0, 6000, 6000)
    rect = region_of("rectangle")
    shares = [rect.on_part(side, x).mean() for side in ("left", "right", "bottom", "top")]
    np.testing.assert_allclose(shares, [2 / 6, 2 / 6, 1 / 6, 1 / 6], atol=2e-3)
    difference = region_of("difference")
    x, _ = draw(difference.part("boundary"), "sobol", 0, 0, 6000, 6000)
    hole_share = 2 * np.pi * R_HOLE / (8 + 2 * np.pi * R_HOLE)
    assert difference.on_part("hole", x).mean() == pytest.approx(hole_share, abs=5e-3)


def test_union_drops_interfaces_where_operands_touch_and_draws_shared_sides_once():
    touching = build_region(
        Geometry.model_validate({"union": [{"rectangle": [[0, 1], [0, 1]]}, {"rectangle": [[1, 2], [0, 1]]}]})
    )
    assert touching.part_measure("boundary") == pytest.approx(6.0, rel=1e-3)
    x, _ = draw(touching.part("boundary"), "sobol", 0, 0, 3000, 3000)
    assert not (np.abs(x[:, 0] - 1) < 1e-9).any()
    assert (np.abs(x[:, 1]) < 1e-12).mean() == pytest.approx(2 / 6, abs=3e-3)  # bottom once, not twice


def test_interval_parts_keep_the_old_behaviour():
    interval = region_of("interval")
    assert interval.part_names() == ("left", "right", "boundary")
    assert interval.part("left").unit_dim == 0 and interval.part("boundary").unit_dim == 1
    x, n = interval.part("boundary").map(np.array([[0.2], [0.5], [0.9]]))
    np.testing.assert_array_equal(x, [[-1], [3], [3]])
    np.testing.assert_array_equal(n, [[-1], [1], [1]])


def test_box_like_faces_go_in_axis_order_so_opposite_faces_pair_up():
    u = np.array([[0.25, 0.75]])
    box = region_of("box")
    np.testing.assert_array_equal(box.part("front").map(u)[0], [[0.25, 0, 1.25]])
    np.testing.assert_array_equal(box.part("back").map(u)[0], [[0.25, 2, 1.25]])
    np.testing.assert_array_equal(paired_translation(box, "front", "back"), [0, 2, 0])
    np.testing.assert_array_equal(paired_translation(region_of("rectangle"), "bottom", "top"), [0, 2])
    np.testing.assert_array_equal(paired_translation(region_of("spacetime_interval"), "left", "right"), [10, 0])
    assert paired_translation(region_of("rectangle"), "left", "top") is None
    assert paired_translation(region_of("polygon"), "edge1", "edge3") is None  # opposite directions
    assert paired_translation(region_of("union"), "a.left", "b.right") is None  # drawn by rejection


def test_spacetime_parts():
    st = region_of("spacetime_difference")
    assert st.part_names() == (
        "outer",
        "outer.left",
        "outer.right",
        "outer.bottom",
        "outer.top",
        "hole",
        "initial",
        "boundary",
    )
    x, n = draw(st.part("initial"), "sobol", 0, 0, 100, 100)
    assert (x[:, 2] == 1.0).all() and (n == [0, 0, -1]).all() and region_of("difference").contains(x[:, :2]).all()
    x, n = draw(st.part("hole"), "sobol", 0, 0, 100, 100)
    assert (n[:, 2] == 0).all() and (x[:, 2] >= 1).all() and (x[:, 2] <= 1.5).all()
    np.testing.assert_allclose(n[:, :2], -x[:, :2] / R_HOLE, atol=1e-12)  # a hole's normal points into it


def test_unknown_part_lists_the_parts():
    with pytest.raises(RegionError, match=r"^no boundary part 'hole' \(parts: left, right, bottom, top, boundary\)$"):
        region_of("rectangle").part("hole")
    with pytest.raises(RegionError, match=r"parts: a, a\.left, .*b\.top, boundary\)$"):
        region_of("union").on_part("c", np.zeros((1, 2)))


def test_triangulation_covers_random_star_polygons_exactly():
    rng = np.random.default_rng(5)
    for vertices in (7, 40, 300):
        angles = np.sort(rng.random(vertices)) * 2 * np.pi
        radii = 0.2 + rng.random(vertices)
        points = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
        try:
            polygon = build_region(Geometry.model_validate({"polygon": points.tolist()}))
        except RegionError:
            continue  # sorted angles can still pinch two edges together; such a draw is skipped
        assert polygon.triangle_areas.sum() == pytest.approx(abs(signed_area(points)), rel=1e-12)
        x, _ = draw(polygon.interior(), "pseudo-random", 0, 0, 2000, 2000)
        assert polygon.contains(x).all()


@pytest.mark.parametrize(
    "geometry, path, message",
    [
        (
            {"polygon": [[0, 0], [1, 1], [0, 0], [1, 1]]},
            ("polygon",),
            r"^a polygon needs at least 3 distinct vertices, got 2$",
        ),
        (
            {"polygon": [[0, 0], [1, 0], [1, 0], [0, 1]]},
            ("polygon",),
            r"^vertices 2 and 3 are the same point \[1\.0, 0\.0\]$",
        ),
        (
            {"polygon": [[0, 0], [1, 1], [2, 2]]},
            ("polygon",),
            r"^the polygon has zero area \(its vertices lie on one line\)$",
        ),
        (
            {"polygon": [[0, 0], [2, 2], [2, 0], [0, 2]]},
            ("polygon",),
            r"^the polygon intersects itself: edges 1 and 3 cross",
        ),
        ({"polygon": [[0, 0], [4, 0], [4, 4], [2, 0], [0, 4]]}, ("polygon",), r"edges 1 and 3 cross or touch"),
        (
            {"difference": [{"rectangle": [[0, 1], [0, 1]]}, {"polygon": [[0, 0], [1, 1], [1, 0], [0, 1]]}]},
            ("difference", 1, "polygon"),
            r"^the polygon intersects itself: edges 1 and 3",
        ),
        (
            {"union": [{"rectangle": [[0, 1], [0, 1]]}, {"interval": [0, 1]}]},
            ("union", 1),
            r"^operand 2 is 1-dimensional but operand 1 is 2-dimensional \(all operands need the same dimension\)$",
        ),
        (
            {"intersection": [{"disk": {"center": [0, 0], "radius": 1}}, {"disk": {"center": [3, 0], "radius": 1}}]},
            ("intersection",),
            r"^the intersection is empty: none of 4096 candidate points lies in it$",
        ),
        (
            {"difference": [{"disk": {"center": [0, 0], "radius": 1}}, {"rectangle": [[-2, 2], [-2, 2]]}]},
            ("difference",),
            r"^the difference is empty",
        ),
        (
            {"union": [{"interval": [0, 1], "name": "a"}, {"interval": [2, 3], "name": "a"}]},
            ("union", 1, "name"),
            r"^operand name 'a' is used twice \(operands 1 and 2\)",
        ),
        (
            {"union": [{"interval": [0, 1], "name": "boundary"}, {"interval": [2, 3]}]},
            ("union", 0, "name"),
            r"^an operand may not be called 'boundary'",
        ),
    ],
)
def test_bad_geometries_raise_located_one_line_errors(geometry, path, message):
    with pytest.raises(RegionError, match=message) as caught:
        build_region(Geometry.model_validate(geometry))
    assert caught.value.path == path
    assert "\n" not in str(caught.value)


def test_closing_vertex_is_dropped():
    closed = build_region(Geometry.model_validate({"polygon": L_SHAPE + [L_SHAPE[0]]}))
    assert len(closed.part_names()) == 7 and closed.measure() == 3.0


@pytest.mark.parametrize(
    "data, message",
    [
        ({}, "give exactly one of: interval, rectangle, box, disk, polygon, union, difference, intersection"),
        ({"circle": 1}, "unknown geometry kind 'circle'"),
        ({"interval": [1, -1]}, r"bounds \[1.0, -1.0\] must be increasing"),
        ({"disk": {"center": [0, 0], "radius": 0}}, "greater than 0"),
        ({"union": [{"interval": [0, 1]}]}, "at least 2 items"),
        ({"interval": [0, 1], "name": "1a"}, "should match pattern"),
    ],
)
def test_schema_refuses_malformed_geometry(data, message):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        Geometry.model_validate(data)


def test_schema_reports_kind_dimension_and_axis_bounds():
    g = Geometry.model_validate(GEOMETRIES["nested"][0])
    assert (g.kind, g.dim, g.axis_bounds) == ("difference", 2, None)
    assert [o.kind for o in g.operands] == ["union", "disk"] and g.operands[0].name == "plate"
    assert Geometry.model_validate({"box": [[0, 1], [0, 2], [0, 3]]}).axis_bounds == [(0, 1), (0, 2), (0, 3)]
    assert Geometry.model_validate({"interval": [0, 1]}).axis_bounds == [(0, 1)]
