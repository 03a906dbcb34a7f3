"""How often the hash table's insert needs the stash: random-key fills of a software copy of
its insert (hw/maps/hash_table.py: the same ways, bucket counts and H3 hashes; the victim way
chosen at random, as the hardware's LFSR does, never the way the entry was evicted from).

Every fill starts empty and inserts ``slots`` random keys (one map taking every slot: the
highest load the map unit allows), then churns: ``churn`` times it deletes a random key and
inserts a new one, as an LRU map or a connection table does.  An insert that reaches the stash
is counted, and the stash occupancy is tracked; the map unit refuses an insert only when all
``STASH`` stash entries are taken at once.

    .venv/bin/python -m tests.hw.hash_fills --slots 5120 --keys 1000000 [--json]
"""

import argparse
import json
import random
import sys

from hw.maps.hash_table import MAX_KICKS, STASH, WAYS, buckets_for, hash_masks, way_index

OWNER_BITS = 4
TAG_BITS = 8


class SoftTable:
    """The hardware table's placement, in Python."""

    def __init__(self, buckets: int, key_bits: int, rng: random.Random):
        self.bits = OWNER_BITS + TAG_BITS + key_bits
        index_bits = (buckets - 1).bit_length()
        self.masks = [hash_masks(w, self.bits, index_bits) for w in range(WAYS)]
        self.ways = [dict() for _ in range(WAYS)]      # bucket -> pattern
        self.stash = set()
        self.rng = rng
        self.longest_walk = 0

    def buckets(self, pattern: int) -> list:
        return [way_index(masks, pattern) for masks in self.masks]

    def insert(self, pattern: int) -> bool:
        """Place ``pattern``; True when the walk ended in the stash."""
        came_from = None
        for kick in range(MAX_KICKS + 1):
            buckets = self.buckets(pattern)
            for w in range(WAYS):
                if buckets[w] not in self.ways[w]:
                    self.ways[w][buckets[w]] = pattern
                    self.longest_walk = max(self.longest_walk, kick)
                    return False
            if kick == MAX_KICKS:
                break
            victim = self.rng.choice([w for w in range(WAYS) if w != came_from])
            way, bucket = self.ways[victim], buckets[victim]
            pattern, way[bucket] = way[bucket], pattern
            came_from = victim
        self.stash.add(pattern)
        self.longest_walk = MAX_KICKS
        return True

    def delete(self, pattern: int):
        if pattern in self.stash:
            self.stash.discard(pattern)
            return
        for w, bucket in enumerate(self.buckets(pattern)):
            if self.ways[w].get(bucket) == pattern:
                del self.ways[w][bucket]
                return
        raise KeyError(pattern)


def measure(slots: int, key_bits: int, keys: int, churn_factor: int = 1, seed: int = 1,
            buckets: int | None = None) -> dict:
    """Fill tables of ``slots`` until ``keys`` keys have been inserted; each fill inserts
    ``slots`` keys, then ``churn_factor * slots`` delete-and-insert pairs.  ``buckets`` per way
    (a power of two) defaults to the hardware's for ``slots``."""
    rng = random.Random(seed)
    buckets = buckets or buckets_for(slots)
    inserted = stashed = refused = fills = worst_stash = longest = 0
    while inserted < keys:
        table = SoftTable(buckets, key_bits, rng)
        present = []
        for _ in range(slots):
            pattern = rng.getrandbits(key_bits) << (OWNER_BITS + TAG_BITS)
            refused += len(table.stash) == STASH    # the map unit would refuse it
            stashed += table.insert(pattern)
            present.append(pattern)
            worst_stash = max(worst_stash, len(table.stash))
        for _ in range(churn_factor * slots):
            i = rng.randrange(len(present))
            table.delete(present[i])
            present[i] = rng.getrandbits(key_bits) << (OWNER_BITS + TAG_BITS)
            refused += len(table.stash) == STASH
            stashed += table.insert(present[i])
            worst_stash = max(worst_stash, len(table.stash))
        inserted += slots * (1 + churn_factor)
        longest = max(longest, table.longest_walk)
        fills += 1
    return {"slots": slots, "ways": WAYS, "buckets_per_way": buckets,
            "load": slots / (WAYS * buckets), "key_bits": key_bits,
            "fills": fills, "inserts": inserted, "stashed_inserts": stashed,
            "most_stash_entries_at_once": worst_stash, "stash_entries": STASH,
            "refused_inserts": refused,
            "longest_walk": longest, "max_kicks": MAX_KICKS}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slots", type=int, default=4096)
    parser.add_argument("--key-bits", type=int, default=8 * 24)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.slots < 2 or args.keys < 1:
        parser.error(f"--slots must be >= 2 and --keys >= 1, not {args.slots}, {args.keys}")
    result = measure(args.slots, args.key_bits, args.keys, seed=args.seed)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        for name, value in result.items():
            print(f"{name:28} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
