"""Speed and memory benchmarks. Run all with `python -m benchmarks` (or `make bench`), one with
`python -m benchmarks.bench_moves`. Each prints its numbers and the targets they are held against."""
