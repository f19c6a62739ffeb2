"""One data-parallel training step with torch.distributed (gloo, CPU), as Azure ML starts it: every
rank reads RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT from its environment (env://).

Each rank takes its own shard of a fixed batch, DistributedDataParallel all-reduces the gradients, and
every rank checks that the averaged gradient equals the gradient of the whole batch computed alone: the
proof that the ranks really exchanged data. It also all-reduces its rank number as a plain sum."""
import argparse
import json
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    args = parser.parse_args()

    dist.init_process_group("gloo")  # env://: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT
    rank, world = dist.get_rank(), dist.get_world_size()
    print(f"rank {rank} of {world} (local rank {os.environ.get('LOCAL_RANK')}, "
          f"node {os.environ.get('NODE_RANK')}) at {os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}")

    # The same data and the same initial weights on every rank.
    torch.manual_seed(0)
    x = torch.randn(args.batch, 8)
    y = x @ torch.arange(1.0, 9.0).unsqueeze(1) + 0.5
    model = torch.nn.Linear(8, 1)
    reference = torch.nn.Linear(8, 1)
    reference.load_state_dict(model.state_dict())

    ddp = DistributedDataParallel(model)
    shard = slice(rank * args.batch // world, (rank + 1) * args.batch // world)
    loss = torch.nn.functional.mse_loss(ddp(x[shard]), y[shard])
    loss.backward()  # DDP all-reduces (averages) the gradients across the ranks here

    full = torch.nn.functional.mse_loss(reference(x), y)
    full.backward()
    same = torch.allclose(model.weight.grad, reference.weight.grad, atol=1e-5)
    print(f"rank {rank}: shard loss {loss.item():.4f}, averaged gradient equals the full batch's: {same}")

    total = torch.tensor([float(rank + 1)])
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    expected = world * (world + 1) / 2
    print(f"rank {rank}: all-reduce of rank+1 = {total.item():.1f} (expected {expected:.1f})")

    with torch.no_grad():
        for p in model.parameters():
            p -= args.learning_rate * p.grad
    if rank == 0:
        os.makedirs("outputs", exist_ok=True)
        with open("outputs/step.json", "w") as f:
            json.dump({"world_size": world, "all_reduce": total.item(), "gradients_match": same,
                       "loss": loss.item()}, f)
    dist.destroy_process_group()
    if not same or total.item() != expected:
        raise SystemExit(f"rank {rank}: the ranks did not agree")


if __name__ == "__main__":
    main()
