"""SVDNet: the singing-voice detector of Schlueter & Grill (ISMIR 2015), in PyTorch."""

import sys

if sys.argv[:1] == ["-m"]:  # a command-line tool (python -m ...) is still importing

    def _quiet_interrupt(signum, frame):
        # Importing PyTorch takes a second or two; a Ctrl-C then ends like one in the
        # run (svdnet.cli.run_cli puts Python's own handler back when the run starts).
        print("interrupted", file=sys.stderr)
        raise SystemExit(130)

    import signal

    signal.signal(signal.SIGINT, _quiet_interrupt)
