use lookout_storage::{
    Buckets, Exemplar, ExponentialHistogramPoint, HistogramPoint, Metric, MetricData, Number, NumberPoint, Payload,
    SummaryPoint, Temporality, ValueAtQuantile,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{self as otlp, exemplar, metric::Data, number_data_point};

use super::common::{attributes, optional_span_id, optional_trace_id, resource, scope};
use super::{Converted, Rejections, regroup};

/// Converts an OTLP metrics export request. Data points that break OTLP's rules (a metric
/// without a name, a point without a value, histogram buckets that do not match their bounds,
/// malformed exemplar ids) are left out and counted.
pub fn metrics(request: ExportMetricsServiceRequest) -> Converted {
    let mut rejections = Rejections::default();
    let groups = request.resource_metrics.into_iter().map(|rm| {
        let scopes = rm.scope_metrics.into_iter().map(|sm| (scope(sm.scope, sm.schema_url), sm.metrics));
        (resource(rm.resource, rm.schema_url), scopes)
    });
    let batch = regroup(groups, |metric, [r, s, m]| {
        let at = |detail: String| format!("resource_metrics[{r}].scope_metrics[{s}].metrics[{m}]{detail}");
        convert_metric(metric, &mut |n, why: String| rejections.reject(n, || at(why)))
    });
    rejections.finish(Payload::Metrics(batch), "data points")
}

/// Converts one metric, reporting rejected points through `reject(count, reason)`.
/// Returns `None` when no point is left.
fn convert_metric(m: otlp::Metric, reject: &mut impl FnMut(u64, String)) -> Option<Metric> {
    let data = m.data?;
    if m.name.is_empty() {
        reject(point_count(&data), ": metric name is empty".into());
        return None;
    }
    let name = &m.name;
    let data = match data {
        Data::Gauge(g) => MetricData::Gauge { points: keep(g.data_points, number_point, name, reject) },
        Data::Sum(s) => MetricData::Sum {
            points: keep(s.data_points, number_point, name, reject),
            temporality: Temporality::from_otlp(s.aggregation_temporality),
            monotonic: s.is_monotonic,
        },
        Data::Histogram(h) => MetricData::Histogram {
            points: keep(h.data_points, histogram_point, name, reject),
            temporality: Temporality::from_otlp(h.aggregation_temporality),
        },
        Data::ExponentialHistogram(h) => MetricData::ExponentialHistogram {
            points: keep(h.data_points, exponential_point, name, reject),
            temporality: Temporality::from_otlp(h.aggregation_temporality),
        },
        Data::Summary(s) => MetricData::Summary { points: keep(s.data_points, summary_point, name, reject) },
    };
    let metric =
        Metric { name: m.name, description: m.description, unit: m.unit, metadata: attributes(m.metadata), data };
    (metric.point_count() > 0).then_some(metric)
}

fn point_count(data: &Data) -> u64 {
    (match data {
        Data::Gauge(g) => g.data_points.len(),
        Data::Sum(s) => s.data_points.len(),
        Data::Histogram(h) => h.data_points.len(),
        Data::ExponentialHistogram(h) => h.data_points.len(),
        Data::Summary(s) => s.data_points.len(),
    }) as u64
}

fn keep<P, T>(
    points: Vec<P>,
    convert: fn(P) -> Result<T, String>,
    name: &str,
    reject: &mut impl FnMut(u64, String),
) -> Vec<T> {
    let mut out = Vec::with_capacity(points.len());
    for (i, p) in points.into_iter().enumerate() {
        match convert(p) {
            Ok(p) => out.push(p),
            Err(why) => reject(1, format!(" ({name}).data_points[{i}]: {why}")),
        }
    }
    out
}

fn number_point(p: otlp::NumberDataPoint) -> Result<NumberPoint, String> {
    let value = match p.value {
        Some(number_data_point::Value::AsDouble(d)) => Number::Double(d),
        Some(number_data_point::Value::AsInt(i)) => Number::Int(i),
        None => return Err("data point has no value".into()),
    };
    Ok(NumberPoint {
        exemplars: exemplars(p.exemplars)?,
        attributes: attributes(p.attributes),
        start_time_unix_nano: p.start_time_unix_nano,
        time_unix_nano: p.time_unix_nano,
        value,
        flags: p.flags,
    })
}

fn histogram_point(p: otlp::HistogramDataPoint) -> Result<HistogramPoint, String> {
    if !p.bucket_counts.is_empty() && p.bucket_counts.len() != p.explicit_bounds.len() + 1 {
        return Err(format!(
            "histogram has {} bucket counts for {} explicit bounds (want bounds + 1)",
            p.bucket_counts.len(),
            p.explicit_bounds.len()
        ));
    }
    if p.explicit_bounds.windows(2).any(|w| w[0].partial_cmp(&w[1]) != Some(std::cmp::Ordering::Less)) {
        return Err("histogram explicit bounds are not strictly increasing".into());
    }
    let total = p.bucket_counts.iter().try_fold(0u64, |acc, c| acc.checked_add(*c));
    if !p.bucket_counts.is_empty() && total != Some(p.count) {
        return Err(format!("histogram count {} differs from the sum of its bucket counts", p.count));
    }
    Ok(HistogramPoint {
        exemplars: exemplars(p.exemplars)?,
        attributes: attributes(p.attributes),
        start_time_unix_nano: p.start_time_unix_nano,
        time_unix_nano: p.time_unix_nano,
        count: p.count,
        sum: p.sum,
        bucket_counts: p.bucket_counts,
        explicit_bounds: p.explicit_bounds,
        flags: p.flags,
        min: p.min,
        max: p.max,
    })
}

fn exponential_point(p: otlp::ExponentialHistogramDataPoint) -> Result<ExponentialHistogramPoint, String> {
    if !(-10..=20).contains(&p.scale) {
        return Err(format!("exponential histogram scale {} is outside -10..=20", p.scale));
    }
    let buckets = |b: Option<otlp::exponential_histogram_data_point::Buckets>| {
        b.map(|b| Buckets { offset: b.offset, bucket_counts: b.bucket_counts }).unwrap_or_default()
    };
    Ok(ExponentialHistogramPoint {
        exemplars: exemplars(p.exemplars)?,
        attributes: attributes(p.attributes),
        start_time_unix_nano: p.start_time_unix_nano,
        time_unix_nano: p.time_unix_nano,
        count: p.count,
        sum: p.sum,
        scale: p.scale,
        zero_count: p.zero_count,
        positive: buckets(p.positive),
        negative: buckets(p.negative),
        flags: p.flags,
        min: p.min,
        max: p.max,
        zero_threshold: p.zero_threshold,
    })
}

fn summary_point(p: otlp::SummaryDataPoint) -> Result<SummaryPoint, String> {
    if let Some(q) = p.quantile_values.iter().find(|q| !(0.0..=1.0).contains(&q.quantile)) {
        return Err(format!("summary quantile {} is outside [0, 1]", q.quantile));
    }
    Ok(SummaryPoint {
        attributes: attributes(p.attributes),
        start_time_unix_nano: p.start_time_unix_nano,
        time_unix_nano: p.time_unix_nano,
        count: p.count,
        sum: p.sum,
        quantile_values: p
            .quantile_values
            .into_iter()
            .map(|q| ValueAtQuantile { quantile: q.quantile, value: q.value })
            .collect(),
        flags: p.flags,
    })
}

fn exemplars(list: Vec<otlp::Exemplar>) -> Result<Vec<Exemplar>, String> {
    list.into_iter()
        .enumerate()
        .map(|(i, e)| {
            let value = match e.value {
                Some(exemplar::Value::AsDouble(d)) => Number::Double(d),
                Some(exemplar::Value::AsInt(n)) => Number::Int(n),
                None => return Err(format!("exemplars[{i}] has no value")),
            };
            Ok(Exemplar {
                trace_id: optional_trace_id(&e.trace_id, "exemplar trace_id")
                    .map_err(|w| format!("exemplars[{i}]: {w}"))?,
                span_id: optional_span_id(&e.span_id, "exemplar span_id")
                    .map_err(|w| format!("exemplars[{i}]: {w}"))?,
                filtered_attributes: attributes(e.filtered_attributes),
                time_unix_nano: e.time_unix_nano,
                value,
            })
        })
        .collect()
}
