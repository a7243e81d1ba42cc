import torch

from video_r1.media.frame_order import time_shuffle


def test_shuffles_are_permutations_fresh_and_never_keep_patch_order():
    gen = torch.Generator().manual_seed(0)
    orders = [time_shuffle(4, gen) for _ in range(200)]
    for order in orders:
        assert sorted(order) == [0, 1, 2, 3]
        # the two temporal patches (0,1) and (2,3) must not both stay in place
        assert not (sorted(order[:2]) == [0, 1] and sorted(order[2:]) == [2, 3])
    assert len({tuple(o) for o in orders}) > 10  # a fresh permutation each call


def test_tiny_clips():
    gen = torch.Generator().manual_seed(1)
    assert time_shuffle(1, gen) == [0]
    assert time_shuffle(2, gen) == [1, 0]  # one temporal patch: only the swap is not the identity
