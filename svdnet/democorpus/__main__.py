"""``python -m svdnet.democorpus ROOT [options]``: write the demo corpus."""

from svdnet.democorpus.writer import main

main()
