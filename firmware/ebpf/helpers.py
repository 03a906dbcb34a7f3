"""Helper function ids: the kernel's numbers for the helpers xdpnic knows about.

Ref: Linux include/uapi/linux/bpf.h, __BPF_FUNC_MAPPER (a helper's id is its position there).
Which of these a target offers, and their argument types, is the verifier's platform data.
"""

import enum

__all__ = ["HelperId"]


class HelperId(enum.IntEnum):
    MAP_LOOKUP_ELEM = 1
    MAP_UPDATE_ELEM = 2
    MAP_DELETE_ELEM = 3
    KTIME_GET_NS = 5
    TRACE_PRINTK = 6
    GET_PRANDOM_U32 = 7
    GET_SMP_PROCESSOR_ID = 8
    REDIRECT = 23
    CSUM_DIFF = 28
    XDP_ADJUST_HEAD = 44
    REDIRECT_MAP = 51
    XDP_ADJUST_META = 54
    XDP_ADJUST_TAIL = 65
