import os

import pytest

from scope.commands.launchers import Launch, split_launch
from scope.errors import UsageError


@pytest.mark.parametrize("cmd,expected", [
    (["python3", "app.py"], Launch(None, ["python3", "app.py"])),
    (["chroot", "/srv/sid", "python3.15", "a.py"], Launch("/srv/sid", ["python3.15", "a.py"])),
    (["/usr/sbin/chroot", "--userspec", "1:1", "/srv/sid", "python3"], Launch("/srv/sid", ["python3"])),
    (["unshare", "--mount", "--pid", "--fork", "--root", "/srv/sid", "python3.15", "-c", "1"],
     Launch("/srv/sid", ["python3.15", "-c", "1"], forks=True)),
    (["unshare", "-mpf", "--root=/srv/sid", "python3"], Launch("/srv/sid", ["python3"], forks=True)),
    (["unshare", "-mR/srv/sid", "python3", "-f"], Launch("/srv/sid", ["python3", "-f"])),
    (["unshare", "-m", "-R", "/srv/sid", "-w", "/app", "python3"], Launch("/srv/sid", ["python3"])),
    (["unshare", "--kill-child=SIGTERM", "-p", "--mount-proc", "python3"], Launch(None, ["python3"], forks=True)),
    (["unshare", "--map-user", "0", "--", "-python"], Launch(None, ["-python"])),
    # a launcher starting another: the later folder is named inside the earlier root
    (["unshare", "-mpf", "chroot", "/srv/sid", "python3.15"], Launch("/srv/sid", ["python3.15"], forks=True)),
    (["unshare", "-R", "/srv", "chroot", "/sid", "python3"], Launch("/srv/sid", ["python3"])),
    # another user: setpriv execs the program itself
    (["setpriv", "--reuid=65534", "--regid", "65534", "--clear-groups", "python3", "-u"],
     Launch(None, ["python3", "-u"])),
    (["chroot", "/srv/sid", "setpriv", "--reuid", "1000", "--", "python3.15"], Launch("/srv/sid", ["python3.15"])),
])
def test_the_program_a_launcher_runs_and_its_root(cmd, expected, monkeypatch):
    monkeypatch.setattr(os.path, "realpath", lambda p: p)      # no such folders here
    assert split_launch(cmd) == expected


@pytest.mark.parametrize("cmd", [["chroot", "/srv/sid"], ["unshare", "-mpf"], ["unshare", "--root"],
                                 ["unshare", "-R"], ["setpriv", "--reuid", "1"], ["setpriv"]])
def test_a_launcher_without_a_program_is_a_usage_error(cmd):
    with pytest.raises(UsageError):
        split_launch(cmd)
