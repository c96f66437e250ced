#!/usr/bin/env python3
"""Generates synthetic metric traces for `ecs-scaler simulate`.

Writes CSV with the header `time,metric,value` (time in seconds from the start), one datapoint
per minute, to stdout. Deterministic for a given --seed.

Shapes:
  queue-burst  an SQS-like backlog: quiet, a burst of work for `--burst` minutes, drained.
  diurnal      active users over a day: low at night, a morning ramp, a lunch peak.
  flash-sale   active users: steady, a sudden ten-fold spike for 20 minutes, a slow decay.

Examples:
  examples/traces/generate.py --shape queue-burst --metric backlog > queue-burst.csv
  examples/traces/generate.py --shape diurnal --metric activeUsers --minutes 1440 > diurnal-users.csv
"""

import argparse
import math
import random
import sys


def queue_burst(minute, args, rng):
    start, end = args.minutes // 6, args.minutes // 6 + args.burst
    if start <= minute < end:
        return args.peak * (0.9 + 0.2 * rng.random())
    if end <= minute < end + 10:
        return args.peak * (end + 10 - minute) / 20
    return max(0.0, rng.gauss(5, 3))


def diurnal(minute, args, rng):
    hour = (minute / 60) % 24
    night = 0.08
    day = 0.5 - 0.5 * math.cos((hour - 3) / 24 * 2 * math.pi)
    lunch = math.exp(-((hour - 12.5) ** 2) / 1.5)
    level = night + 0.6 * day + 0.35 * lunch
    return args.peak * level * (0.95 + 0.1 * rng.random())


def flash_sale(minute, args, rng):
    base = args.peak / 10
    start = args.minutes // 3
    if minute < start:
        return base * (0.95 + 0.1 * rng.random())
    if minute < start + 20:
        return args.peak * (0.9 + 0.2 * rng.random())
    decay = math.exp(-(minute - start - 20) / 15)
    return (base + (args.peak - base) * decay) * (0.95 + 0.1 * rng.random())


SHAPES = {"queue-burst": queue_burst, "diurnal": diurnal, "flash-sale": flash_sale}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), required=True)
    parser.add_argument("--metric", required=True, help="metric name from the policy set's `metrics`")
    parser.add_argument("--minutes", type=int, default=120, help="length of the trace")
    parser.add_argument("--peak", type=float, default=2000.0, help="the highest level of the metric")
    parser.add_argument("--burst", type=int, default=20, help="queue-burst: minutes of the burst")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    shape = SHAPES[args.shape]
    out = sys.stdout
    out.write("time,metric,value\n")
    for minute in range(args.minutes):
        out.write(f"{minute * 60},{args.metric},{round(shape(minute, args, rng), 1)}\n")


if __name__ == "__main__":
    main()
