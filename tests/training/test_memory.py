"""keep_freed_memory: on glibc, large tensors come from malloc's heap and stay there once freed."""

from __future__ import annotations

import ctypes
import platform

import pytest
import torch

from expertkit.training.memory import keep_freed_memory


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def _mallinfo() -> _MallInfo2:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    return libc.mallinfo2()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting is glibc's mallopt")
def test_large_tensors_live_in_the_heap_and_are_kept_after_free():
    # 100 MB: above glibc's largest dynamic mmap threshold (32 MB), so by default each one is its
    # own mapping, unmapped on free and page-faulted in again next time (~24,600 faults, measured),
    # like the LM head's logits in every training step.
    assert keep_freed_memory()
    size = 16384 * 1536 * 4
    mapped_before = _mallinfo().hblkhd
    tensor = torch.zeros(16384, 1536)
    assert _mallinfo().hblkhd - mapped_before < size  # not a fresh mmap
    del tensor
    assert _mallinfo().arena >= size  # freed, and still held by the heap for the next step
