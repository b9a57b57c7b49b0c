"""Writes the rule file of the rules benchmark: 1,000 alerting rules, 20 per host over the 50
hosts of `rwgen --series 10000` (node-exporter-like series, 200 per host), in 10 groups of 100
rules evaluated every 15 s. Together the rules read every series of every host.

Usage: python3 benches/gen-rules.py > rules.yml
"""

HOSTS = 50
PER_GROUP_HOSTS = 5

TEMPLATES = [
    ("CpuBusy", 'sum by (instance) (rate(node_cpu_seconds_total{{instance="{h}",mode!="idle"}}[5m])) > 7.5'),
    ("CpuIowait", 'rate(node_cpu_seconds_total{{instance="{h}",mode="iowait"}}[5m]) > 0.5'),
    ("CpuIdleLow", 'rate(node_cpu_seconds_total{{instance="{h}",mode="idle"}}[5m]) < 0.01'),
    ("MemoryLow", 'node_memory_MemAvailable_bytes{{instance="{h}"}} / node_memory_MemTotal_bytes{{instance="{h}"}} < 0.05'),
    ("MemoryDirty", 'node_memory_Dirty_bytes{{instance="{h}"}} > 1e9 or node_memory_Cached_bytes{{instance="{h}"}} > 1e12'),
    ("LoadHigh", 'node_load15{{instance="{h}"}} > 16 or node_load5{{instance="{h}"}} > 24 or node_load1{{instance="{h}"}} > 32'),
    ("SwapUsed", 'node_memory_SwapTotal_bytes{{instance="{h}"}} - node_memory_SwapFree_bytes{{instance="{h}"}} > 1e9'),
    ("DiskAlmostFull", 'node_filesystem_avail_bytes{{instance="{h}"}} / node_filesystem_size_bytes{{instance="{h}"}} < 0.1'),
    ("DiskFillingUp", 'predict_linear(node_filesystem_free_bytes{{instance="{h}"}}[1h], 4 * 3600) < 0'),
    ("NetRxErrors", 'rate(node_network_receive_errs_total{{instance="{h}"}}[5m]) > 1'),
    ("NetTxErrors", 'rate(node_network_transmit_errs_total{{instance="{h}"}}[5m]) > 1'),
    ("NetDrops", 'rate(node_network_receive_drop_total{{instance="{h}"}}[5m]) + rate(node_network_transmit_drop_total{{instance="{h}"}}[5m]) > 1'),
    ("NetRxSaturated", 'rate(node_network_receive_bytes_total{{instance="{h}"}}[5m]) > 1e9'),
    ("NetTxPackets", 'rate(node_network_transmit_packets_total{{instance="{h}"}}[5m]) > 1e6 or rate(node_network_receive_packets_total{{instance="{h}"}}[5m]) > 1e6'),
    ("DiskBusy", 'rate(node_disk_io_time_seconds_total{{instance="{h}"}}[5m]) > 0.9'),
    ("DiskWrites", 'rate(node_disk_written_bytes_total{{instance="{h}"}}[5m]) > 5e8 or rate(node_disk_writes_completed_total{{instance="{h}"}}[5m]) > 1e4'),
    ("DiskReads", 'rate(node_disk_read_bytes_total{{instance="{h}"}}[5m]) > 5e8 or rate(node_disk_reads_completed_total{{instance="{h}"}}[5m]) > 1e4'),
    ("LatencyP99", 'histogram_quantile(0.99, sum by (le, handler) (rate(http_request_duration_seconds_bucket{{instance="{h}"}}[5m]))) > 2'),
    ("LatencyMean", 'sum by (handler) (rate(http_request_duration_seconds_sum{{instance="{h}"}}[5m])) / sum by (handler) (rate(http_request_duration_seconds_count{{instance="{h}"}}[5m])) > 1'),
    ("KernelBusy", 'rate(node_context_switches_total{{instance="{h}"}}[5m]) + rate(node_intr_total{{instance="{h}"}}[5m]) + rate(node_forks_total{{instance="{h}"}}[5m]) > 1e6 or node_procs_running{{instance="{h}"}} > 64 or node_time_seconds{{instance="{h}"}} - node_boot_time_seconds{{instance="{h}"}} < 0'),
]


def main():
    print("groups:")
    for g in range(HOSTS // PER_GROUP_HOSTS):
        print(f"  - name: hosts-{g}")
        print("    interval: 15s")
        print("    rules:")
        for i in range(PER_GROUP_HOSTS):
            host = f"host-{g * PER_GROUP_HOSTS + i:05d}:9100"
            for name, expr in TEMPLATES:
                print(f"      - alert: {name}")
                print(f"        expr: '{expr.format(h=host)}'")
                print("        for: 5m")
                print("        labels:")
                print("          severity: warning")
                print("        annotations:")
                print("          summary: '{{ $labels.instance }} {{ $value | humanize }}'")


if __name__ == "__main__":
    main()
