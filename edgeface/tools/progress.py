"""Progress bars for what takes minutes: tqdm where installed (the dev and train extras), else none."""

try:
    from tqdm import tqdm
except ImportError:  # the runtime and its tools work without it

    def tqdm(iterable, **_):
        return iterable


__all__ = ["tqdm"]
