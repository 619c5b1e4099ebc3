"""SVG snapshots of each screen of `scope tui` at a fixed size over a fixed
recording (tests/unit/recording.py: write_story). After an intended change of
the look: `pytest tests/unit/test_tui_snapshots.py --snapshot-update`, and
review the SVGs in __snapshots__ before committing them."""
import pytest

from scope.tui.app import ScopeApp
from scope.tui.datasource import RecordingSource
from scope.tui.timeline import Timeline

from .recording import START, write_story


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    return write_story(tmp_path_factory.mktemp("snap") / "rec")


def at_200ms(pilot):
    async def run(pilot):
        pilot.app.screen.query_one(Timeline).move_to(START + 200_000_000)
        await pilot.pause()
    return run(pilot)


@pytest.mark.parametrize("size", [(80, 24), (140, 40)])
def test_main_screen_moment(snap_compare, story, size):
    assert snap_compare(ScopeApp(RecordingSource.open(story)), terminal_size=size, run_before=at_200ms)


@pytest.mark.parametrize("keys", [["2"], ["4"], ["3"], ["question_mark"]], ids=["top", "tree", "events", "help"])
def test_other_screens(snap_compare, story, keys):
    assert snap_compare(ScopeApp(RecordingSource.open(story)), terminal_size=(120, 36), press=keys,
                        run_before=at_200ms)


def test_zoomed_in_on_the_slow_query(snap_compare, story):
    async def zoom(pilot):
        await at_200ms(pilot)
        tl = pilot.app.screen.query_one(Timeline)
        tl.set_view(START + 30_000_000, START + 420_000_000)      # with the markup-named call
        await pilot.pause()
    assert snap_compare(ScopeApp(RecordingSource.open(story)), terminal_size=(120, 36), run_before=zoom)


def test_a_store_opens_on_its_list(snap_compare, story, tmp_path):
    import shutil

    from scope.tui.datasource import StoreSource
    root = tmp_path / "store"
    for name in ("20261201-101500-pid4242", "20261201-103000-pid4242"):
        shutil.copytree(story, root / name)
    assert snap_compare(ScopeApp(StoreSource(root)), terminal_size=(120, 16))
