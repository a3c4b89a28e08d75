import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { CHART_SERIES, type Granularity, type UsagePoint } from './series.ts';

const HEIGHT = 260;

/**
 * A key's usage as stacked bars, one bar per hour or day: uPlot draws on a canvas (no HTML from strings, so the
 * console's Trusted Types policy holds). Loaded on demand with the usage page, so the rest of the console doesn't
 * carry it. The canvas is hidden from screen readers: the table beside it holds the same numbers.
 *
 * uPlot has no stacking of its own: each series is drawn as the running total of itself and those beneath it, the
 * tallest first, so each visible band is one kind's count.
 */
export function UsageChart({ points, granularity }: { points: readonly UsagePoint[]; granularity: Granularity }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (!element) {
      return;
    }
    const xs = points.map((point) => Date.parse(point.start) / 1000);
    // Top of each band: its own count plus those stacked beneath it. Drawn top band first, so each covers the next.
    const stacked = CHART_SERIES.map((_, index) =>
      points.map((point) =>
        CHART_SERIES.slice(0, index + 1).reduce((total, series) => total + series.count(point.counts), 0),
      ),
    ).reverse();
    const bars = uPlot.paths.bars?.({ size: [0.7, 48], align: 0 });
    const plot = new uPlot(
      {
        width: Math.max(element.clientWidth, 280),
        height: HEIGHT,
        legend: { show: false },
        cursor: { show: true, drag: { x: false, y: false } },
        scales: {
          x: {
            time: true,
            // Half a bucket of room at each end, so the first and last bars aren't cut in half.
            range: (_, min, max) => {
              const half = (granularity === 'hour' ? 3600 : 86_400) / 2;
              return [min - half, max + half];
            },
          },
          y: { range: (_, __, max) => [0, Math.max(4, Math.ceil(max * 1.15))] },
        },
        axes: [
          { stroke: '#535a68', grid: { show: false } },
          { stroke: '#535a68', grid: { stroke: '#e3e6eb', width: 1 }, label: 'Requests', size: 56 },
        ],
        series: [
          {},
          ...[...CHART_SERIES].reverse().map((series) => ({
            label: series.label,
            stroke: series.color,
            fill: series.color,
            width: 0,
            points: { show: false },
            ...(bars ? { paths: bars } : {}),
          })),
        ],
      },
      [xs, ...stacked],
      element,
    );
    const resize = new ResizeObserver(() =>
      plot.setSize({ width: Math.max(element.clientWidth, 280), height: HEIGHT }),
    );
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [points, granularity]);
  return <div ref={box} class="usage-chart" aria-hidden="true" />;
}
