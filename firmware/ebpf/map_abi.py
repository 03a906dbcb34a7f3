"""Map constants shared by the hardware map unit, the golden model and the driver.

The contract between them, as ``machine.py`` is for the address map: the gateware imports this
module, never the golden model.

Ref: include/uapi/linux/bpf.h (update flags, struct bpf_lpm_trie_key), kernel/bpf/lpm_trie.c
(LPM_DATA_SIZE_MAX).
"""

from .machine import MAP_OFFSET_MASK

__all__ = ["BPF_ANY", "BPF_NOEXIST", "BPF_EXIST", "BPF_F_LOCK", "LPM_KEY_HEADER",
           "LPM_DATA_SIZE_MAX", "MAP_REGION_BYTES"]

# Update flags of bpf_map_update_elem.
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2
BPF_F_LOCK = 4

LPM_KEY_HEADER = 4          # struct bpf_lpm_trie_key: u32 prefixlen, then the data
LPM_DATA_SIZE_MAX = 256     # longer LPM data is -EINVAL (not -E2BIG)

MAP_REGION_BYTES = MAP_OFFSET_MASK + 1      # one map's part of the map-value region
