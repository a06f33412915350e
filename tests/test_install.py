"""The project installs as a package (pyproject.toml) and its command lines run from anywhere."""

import json
import os
import pathlib
import shutil
import site
import subprocess
import sys
import sysconfig
import venv

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _tracked_copy(dest: pathlib.Path) -> pathlib.Path:
    """The tracked and untracked-but-not-ignored files of the checkout, copied (building a
    wheel writes build/ into its source folder; the checkout is left untouched)."""
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in names:
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def _see_running_site_packages(python: pathlib.Path) -> None:
    """Lets the venv of ``python`` import the dependencies the running interpreter imports.

    ``system_site_packages=True`` is not that: a venv is always made from the base
    interpreter, so when the tests themselves run in a venv it would see the base's
    site-packages, not the venv holding jax. Instead a .pth file in the new venv lists the
    running interpreter's site directories that are on its sys.path (its venv's, the base's if
    that venv sees them, the user's, Debian's dist-packages): they go after the new venv's own
    site-packages, so the installed wheel is what imports. As plain directories their own
    .pth files are not run, so an editable install of this checkout there stays inactive.
    """
    candidates = [*site.getsitepackages(), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    if site.ENABLE_USER_SITE:
        candidates.append(site.getusersitepackages())
    site_dirs = [p for p in dict.fromkeys(candidates) if p in sys.path and os.path.isdir(p)]
    own = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    (pathlib.Path(own) / "running-interpreter.pth").write_text("".join(f"{p}\n" for p in site_dirs))


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_runs_from_another_folder(tmp_path):
    source = _tracked_copy(tmp_path / "source")
    wheels = tmp_path / "wheels"
    # no build isolation and no dependencies: the machine has no index to fetch them from
    # in every setting, and the venv sees the installed dependencies (_see_running_site_packages)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(source)], check=True, capture_output=True)
    (wheel,) = wheels.glob("robustness_geometry-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    _see_running_site_packages(python)
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)],
                   check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # the session's cache (tests/conftest.py): a margins model trained earlier is reused
    # the package that runs is the installed copy, not this checkout
    where = subprocess.run([str(python), "-c", "import categories, imagenet, store; "
                            "print(categories.__file__); print(imagenet.__file__)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    for line in where.stdout.split():
        assert str(env_dir) in line and str(ROOT) not in line
    done = subprocess.run([str(python), "-m", "categories", "report", "--preset", "margins",
                           "--json"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)["margins"]
    assert report["verdict"] == report["expected"] == 1
    # the console script is the same command line
    script = env_dir / "bin" / "robustness-categories"
    bad = subprocess.run([str(script), "report", "--norm", "3"], cwd=elsewhere, env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "norm" in bad.stderr
    assert (env_dir / "bin" / "robustness-imagenet").exists()
    # the native kernel's source travels with the package
    assert subprocess.run([str(python), "-c", "import imagenet.depthwise_native as d; "
                           "print(d.SOURCE.exists())"], cwd=elsewhere, env=env,
                          capture_output=True, text=True).stdout.strip() == "True"
