import { PanelBuilder as BarGauge } from '@grafana/grafana-foundation-sdk/bargauge';
import {
  BarGaugeDisplayMode,
  BigValueColorMode,
  BigValueGraphMode,
  BigValueTextMode,
  GraphThresholdsStyleConfigBuilder,
  GraphThresholdsStyleMode,
  ReduceDataOptionsBuilder,
  VizOrientation,
} from '@grafana/grafana-foundation-sdk/common';
import {
  DashboardBuilder,
  DashboardLinkBuilder,
  DashboardLinkType,
  QueryVariableBuilder,
  RowBuilder,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as Stat } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeSeries } from '@grafana/grafana-foundation-sdk/timeseries';
import { DS, TAGS, datasourceVariable, idCounter, steps, target, targets } from './common.js';

/** Every overview query is narrowed to the instances chosen in `$instance` (all by default). */
const I = 'instance=~"$instance"';

const last = (): ReduceDataOptionsBuilder => new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false);

function stat(title: string, description: string): Stat {
  return new Stat()
    .title(title)
    .description(description)
    .datasource(DS)
    .reduceOptions(last())
    .graphMode(BigValueGraphMode.None);
}

function timeseries(title: string, description: string): TimeSeries {
  return new TimeSeries().title(title).description(description).datasource(DS).lineWidth(1).fillOpacity(10);
}

function topList(title: string, description: string): BarGauge {
  return new BarGauge()
    .title(title)
    .description(description)
    .datasource(DS)
    .reduceOptions(last())
    .orientation(VizOrientation.Horizontal)
    .displayMode(BarGaugeDisplayMode.Gradient)
    .min(0);
}

const quantiles = (metric: string): Array<{ expr: string; legend: string }> =>
  [0.5, 0.9, 0.99].map((q) => ({
    expr: `histogram_quantile(${q}, sum by (le) (rate(${metric}_bucket{${I}}[$__rate_interval])))`,
    legend: `p${q * 100}`,
  }));

/** `dashboards/aemon-overview.json`: the whole fleet of sensors and the service itself. */
export function overviewDashboard(): Dashboard {
  const id = idCounter();
  return new DashboardBuilder('aemon — overview')
    .uid('aemon-overview')
    .description(
      'Sensors, anomaly scores, throughput, latency, Kafka, dead letters and the model of every aemon instance.',
    )
    .tags(TAGS)
    .editable()
    .refresh('30s')
    .time({ from: 'now-6h', to: 'now' })
    .timezone('browser')
    .link(
      new DashboardLinkBuilder('aemon dashboards')
        .type(DashboardLinkType.Dashboards)
        .tags(TAGS)
        .asDropdown(true)
        .includeVars(false)
        .keepTime(true),
    )
    .withVariable(datasourceVariable())
    .withVariable(
      new QueryVariableBuilder('instance')
        .label('Instance')
        .datasource(DS)
        .query('label_values(aemon_windows_scored_total, instance)')
        .refresh(VariableRefresh.OnTimeRangeChanged)
        .sort(VariableSort.AlphabeticalAsc)
        .multi(true)
        .includeAll(true)
        .allValue('.*'),
    )

    .withRow(new RowBuilder('Fleet').id(id()))
    .withPanel(
      stat(
        'Sensors by state',
        'Sensors tracked, by state: warming (no full window or no model yet), scoring, stale (no reading for sensors.staleAfterMs).',
      )
        .id(id())
        .span(8)
        .height(5)
        .textMode(BigValueTextMode.ValueAndName)
        .colorMode(BigValueColorMode.None)
        .withTarget(target({ expr: `sum by (state) (aemon_sensors{${I}})`, legend: '{{state}}' })),
    )
    .withPanel(
      stat('Open anomalies', 'Sensors anomalous right now (after hysteresis).')
        .id(id())
        .span(4)
        .height(5)
        .thresholds(steps([1, 'red']))
        .colorMode(BigValueColorMode.Background)
        .withTarget(target({ expr: `sum(aemon_anomaly{${I}})` })),
    )
    .withPanel(
      stat('Anomalies opened', 'Anomaly events opened in the selected time range.')
        .id(id())
        .span(4)
        .height(5)
        .thresholds(steps([1, 'orange']))
        .withTarget(target({ expr: `sum(increase(aemon_anomalies_total{${I}}[$__range]))`, instant: true })),
    )
    .withPanel(
      stat('Model version', 'The model each instance scores with, and its TensorFlow.js backend.')
        .id(id())
        .span(5)
        .height(5)
        .textMode(BigValueTextMode.Name)
        .colorMode(BigValueColorMode.None)
        .withTarget(
          target({
            expr: `max by (version, backend) (aemon_model_info{${I}})`,
            legend: '{{version}} ({{backend}})',
            instant: true,
          }),
        ),
    )
    .withPanel(
      stat('Model age', 'Time since the model in use was trained (alert AemonModelStale after 7 days).')
        .id(id())
        .span(3)
        .height(5)
        .unit('s')
        .thresholds(steps([7 * 86400, 'orange']))
        .withTarget(target({ expr: `time() - max(aemon_model_trained_timestamp_seconds{${I}} > 0)`, instant: true })),
    )

    .withRow(new RowBuilder('Anomaly scores').id(id()))
    .withPanel(
      timeseries(
        'Anomaly score by sensor (1 = threshold)',
        "Each sensor's latest score, what its decision (detection.decision) compares with 1: above the dashed line the window is above the threshold in force.",
      )
        .id(id())
        .span(16)
        .height(9)
        .min(0)
        .thresholds(steps([1, 'red']))
        .thresholdsStyle(new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Dashed))
        .targets(targets([{ expr: `aemon_anomaly_score{${I}}`, legend: '{{sensor}}' }])),
    )
    .withPanel(
      topList('Top anomalous sensors', 'The ten highest anomaly scores now (above 1: above the threshold in force).')
        .id(id())
        .span(8)
        .height(9)
        .thresholds(steps([0.8, 'orange'], [1, 'red']))
        .targets(
          targets([
            { expr: `topk(10, max by (sensor) (aemon_anomaly_score{${I}}))`, legend: '{{sensor}}', instant: true },
          ]),
        ),
    )
    .withPanel(
      topList(
        'Top channels',
        "Which channels drive the scores: a channel's share of its window's error × the sensor's anomaly score, the ten largest now.",
      )
        .id(id())
        .span(12)
        .height(8)
        .thresholds(steps([0.8, 'orange'], [1, 'red']))
        .targets(
          targets([
            {
              expr: `topk(10, aemon_channel_error{${I}} * on (job, instance, sensor) group_left aemon_anomaly_score{${I}})`,
              legend: '{{sensor}} · {{channel}}',
              instant: true,
            },
          ]),
        ),
    )
    .withPanel(
      timeseries('Open anomalies over time', 'Sensors anomalous (after hysteresis), summed over the chosen instances.')
        .id(id())
        .span(12)
        .height(8)
        .min(0)
        .targets(targets([{ expr: `sum(aemon_anomaly{${I}})`, legend: 'open anomalies' }])),
    )

    .withRow(new RowBuilder('Throughput and latency').id(id()))
    .withPanel(
      timeseries('Throughput', 'Readings received per second, by source, and windows scored per second.')
        .id(id())
        .span(8)
        .height(8)
        .unit('short')
        .axisLabel('per second')
        .targets(
          targets([
            {
              expr: `sum by (source) (rate(aemon_readings_total{${I}}[$__rate_interval]))`,
              legend: 'readings ({{source}})',
            },
            { expr: `sum(rate(aemon_windows_scored_total{${I}}[$__rate_interval]))`, legend: 'windows scored' },
          ]),
        ),
    )
    .withPanel(
      timeseries(
        'Event → score latency',
        "From a reading's arrival to its window being scored (includes micro-batch waits and reordering).",
      )
        .id(id())
        .span(8)
        .height(8)
        .unit('s')
        .targets(targets(quantiles('aemon_event_to_score_seconds'))),
    )
    .withPanel(
      timeseries('Scoring batch duration', 'Time to score one micro-batch of windows with the model.')
        .id(id())
        .span(8)
        .height(8)
        .unit('s')
        .targets(targets(quantiles('aemon_scoring_batch_seconds'))),
    )

    .withRow(new RowBuilder('Kafka and dead letters').id(id()))
    .withPanel(
      timeseries('Kafka consumer lag', 'Records behind the end of each topic (alert AemonKafkaLagGrowing).')
        .id(id())
        .span(12)
        .height(8)
        .unit('short')
        .min(0)
        .targets(targets([{ expr: `sum by (topic) (aemon_kafka_lag{${I}})`, legend: '{{topic}}' }])),
    )
    .withPanel(
      timeseries(
        'Dead-letter rate',
        'Readings rejected per second, by reason (alert AemonDlqRateHigh above 5 % of readings).',
      )
        .id(id())
        .span(12)
        .height(8)
        .unit('short')
        .axisLabel('per second')
        .min(0)
        .targets(
          targets([
            {
              expr: `sum by (reason) (rate(aemon_readings_rejected_total{${I}}[$__rate_interval]))`,
              legend: '{{reason}}',
            },
          ]),
        ),
    )

    .withRow(new RowBuilder('Model and training').id(id()))
    .withPanel(
      stat('Training runs', 'Training runs in the selected time range, by result.')
        .id(id())
        .span(8)
        .height(5)
        .textMode(BigValueTextMode.ValueAndName)
        .colorMode(BigValueColorMode.None)
        .withTarget(
          target({
            expr: `sum by (result) (increase(aemon_training_runs_total{${I}}[$__range]))`,
            legend: '{{result}}',
            instant: true,
          }),
        ),
    )
    .withPanel(
      stat('Mean training time', 'Mean duration of the training runs in the selected time range.')
        .id(id())
        .span(8)
        .height(5)
        .unit('s')
        .withTarget(
          target({
            expr: `sum(increase(aemon_training_seconds_sum{${I}}[$__range])) / sum(increase(aemon_training_seconds_count{${I}}[$__range]))`,
            instant: true,
          }),
        ),
    )
    .withPanel(
      stat(
        'Sensors without series',
        'Sensors whose per-sensor series are not exported because of metrics.maxSensors (the highest scores keep theirs).',
      )
        .id(id())
        .span(8)
        .height(5)
        .thresholds(steps([1, 'orange']))
        .withTarget(target({ expr: `sum(aemon_sensor_series_dropped{${I}})` })),
    )
    .build();
}
