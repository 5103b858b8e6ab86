import { PanelBuilder as BarGauge } from '@grafana/grafana-foundation-sdk/bargauge';
import {
  BarGaugeDisplayMode,
  BigValueColorMode,
  BigValueGraphMode,
  GraphThresholdsStyleConfigBuilder,
  GraphThresholdsStyleMode,
  ReduceDataOptionsBuilder,
  StackingConfigBuilder,
  StackingMode,
  VizOrientation,
} from '@grafana/grafana-foundation-sdk/common';
import {
  AnnotationQueryBuilder,
  DashboardBuilder,
  DashboardLinkBuilder,
  DashboardLinkType,
  MappingType,
  QueryVariableBuilder,
  RowBuilder,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as Stat } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeSeries } from '@grafana/grafana-foundation-sdk/timeseries';
import { DS, TAGS, datasourceVariable, idCounter, steps, target, targets } from './common.js';

/** Every query is about the sensor chosen in `$sensor`. */
const S = 'sensor="$sensor"';

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

/**
 * `dashboards/aemon-sensor.json`: one sensor, chosen by the `sensor` variable — its score against
 * the threshold, which channels the error comes from, and its anomalies as annotations.
 */
export function sensorDashboard(): Dashboard {
  const id = idCounter();
  return (
    new DashboardBuilder('aemon — sensor')
      .uid('aemon-sensor')
      .description(
        'One sensor: anomaly score against its threshold, per-channel shares of the reconstruction error, and its anomalies.',
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
        new QueryVariableBuilder('sensor')
          .label('Sensor')
          .datasource(DS)
          .query('label_values(aemon_anomaly_score, sensor)')
          .refresh(VariableRefresh.OnTimeRangeChanged)
          .sort(VariableSort.NaturalAsc),
      )
      // Regions where the sensor was anomalous (after hysteresis), one per anomaly event.
      .annotation(
        new AnnotationQueryBuilder()
          .name('Anomalies')
          .datasource(DS)
          .enable(true)
          .iconColor('red')
          .expr(`max by (sensor) (aemon_anomaly{${S}}) == 1`)
          .step('15s')
          .titleFormat('Anomaly on {{sensor}}'),
      )

      .withRow(new RowBuilder('Now').id(id()))
      .withPanel(
        stat('State', 'Anomalous or normal, after hysteresis.')
          .id(id())
          .span(6)
          .height(5)
          .colorMode(BigValueColorMode.Background)
          .mappings([
            {
              type: MappingType.ValueToText,
              options: {
                '0': { text: 'normal', color: 'green', index: 0 },
                '1': { text: 'ANOMALY', color: 'red', index: 1 },
              },
            },
          ])
          .withTarget(target({ expr: `max(aemon_anomaly{${S}})` })),
      )
      .withPanel(
        stat(
          'Anomaly score',
          'Latest score, what the decision compares with 1: above 1 the window is above the threshold in force.',
        )
          .id(id())
          .span(6)
          .height(5)
          .decimals(2)
          .thresholds(steps([0.8, 'orange'], [1, 'red']))
          .withTarget(target({ expr: `max(aemon_anomaly_score{${S}})` })),
      )
      .withPanel(
        stat(
          'Threshold',
          "The threshold in force on the sensor's window error (scaled units); none under decision likelihood.",
        )
          .id(id())
          .span(6)
          .height(5)
          .colorMode(BigValueColorMode.None)
          .withTarget(target({ expr: `max(aemon_threshold{${S}})` })),
      )
      .withPanel(
        stat('Anomalies opened', 'Anomaly events of this sensor opened in the selected time range.')
          .id(id())
          .span(6)
          .height(5)
          .thresholds(steps([1, 'orange']))
          .withTarget(target({ expr: `sum(increase(aemon_anomalies_total{${S}}[$__range]))`, instant: true })),
      )

      .withRow(new RowBuilder('Score').id(id()))
      .withPanel(
        timeseries(
          'Anomaly score vs threshold',
          "The decision's score; the dashed line is the threshold in force (1). Red regions are anomalies.",
        )
          .id(id())
          .span(24)
          .height(9)
          .min(0)
          .thresholds(steps([1, 'red']))
          .thresholdsStyle(new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Dashed))
          .targets(targets([{ expr: `max(aemon_anomaly_score{${S}})`, legend: 'score' }])),
      )
      .withPanel(
        timeseries(
          'Reconstruction error and threshold',
          "The window's reconstruction error and the sensor's threshold, in scaled units.",
        )
          .id(id())
          .span(24)
          .height(8)
          .min(0)
          .targets(
            targets([
              { expr: `max(aemon_reconstruction_error{${S}})`, legend: 'reconstruction error' },
              { expr: `max(aemon_threshold{${S}})`, legend: 'threshold' },
            ]),
          ),
      )

      .withRow(new RowBuilder('Channels').id(id()))
      .withPanel(
        timeseries(
          'Error share by channel',
          "Each channel's share of the window's reconstruction error (the shares sum to 100 %).",
        )
          .id(id())
          .span(16)
          .height(9)
          .unit('percentunit')
          .min(0)
          .max(1)
          .fillOpacity(60)
          .stacking(new StackingConfigBuilder().mode(StackingMode.Normal))
          .targets(targets([{ expr: `max by (channel) (aemon_channel_error{${S}})`, legend: '{{channel}}' }])),
      )
      .withPanel(
        new BarGauge()
          .title('Error share now')
          .description("Each channel's share of the latest window's error: the channels behind the current score.")
          .datasource(DS)
          .id(id())
          .span(8)
          .height(9)
          .reduceOptions(last())
          .orientation(VizOrientation.Horizontal)
          .displayMode(BarGaugeDisplayMode.Gradient)
          .unit('percentunit')
          .min(0)
          .max(1)
          .targets(
            targets([
              { expr: `sort_desc(max by (channel) (aemon_channel_error{${S}}))`, legend: '{{channel}}', instant: true },
            ]),
          ),
      )
      .build()
  );
}
