"""An evenly spaced sample of a stream, of bounded size."""

import numpy as np


class EvenSample:
    """An evenly spaced sample of at most ``limit`` items of a stream, kept in memory.

    Item ``i`` of the stream is kept when ``i % stride == 0``; whenever more than
    ``limit`` are kept, every other one is dropped and the stride doubles. The kept
    items thus always lie evenly spaced over the stream so far, from its first item;
    streams of at most ``limit`` items are kept whole.

    Examples
    --------
    >>> sample = EvenSample(4)
    >>> for start in range(0, 10, 3):
    ...     sample.add(np.arange(start, min(start + 3, 10)))
    >>> sample.items().tolist()
    [0, 4, 8]
    """

    def __init__(self, limit):
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit, self.stride, self.seen = limit, 1, 0
        self._parts = []

    def add(self, items):
        """Offer the next items of the stream (an array, items along its first axis)."""
        keep = (self.seen + np.arange(len(items))) % self.stride == 0
        self._parts.append(items[keep])
        self.seen += len(items)
        while sum(len(part) for part in self._parts) > self.limit:
            self._parts = [self.items()[::2]]
            self.stride *= 2

    def items(self):
        """The kept items, in stream order, as one array."""
        return np.concatenate(self._parts) if self._parts else np.zeros(0)
