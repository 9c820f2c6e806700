// Hands a metric's sample lines to prom-client's Registry as text already
// written. The Registry asks each metric for getForPromString() (or get())
// and writes every value as `${metricName}${labels} ${value}`: metricName as
// given, labels as `{...}` or nothing when there are none, the value through
// its number spelling. A family that keeps its label text (metrics/cells.ts)
// therefore passes all its lines as one value: the lines before the last in
// full, then the last line's series, whose value the Registry appends. The
// Registry still writes # HELP and # TYPE and joins the families, so every
// other metric and the page around them stay prom-client's.
//
// This relies on the Registry writing metricName unescaped, which
// prom-client 15 does; test/metrics/cells.test.ts and the golden /metrics
// test compare the result with prom-client's own rendering, so a change
// there fails a test rather than a scrape.

import { sampleValue } from './exposition.js';

export interface LinesValue {
  metricName: string;
  labels: Record<string, never>;
  value: number;
}

/** Where a family writes its sample lines, one series (name and `{labels}`) and value at a time. */
export interface LineSink {
  add(series: string, value: number): void;
}

/** The sample lines of one metric, in order, as the Registry will print them. */
export class RenderedLines implements LineSink {
  private text = '';
  private last = 0;
  private empty = true;

  /** One sample: `series` is the name with its `{labels}`, as the page shows it. */
  add(series: string, value: number): void {
    // The previous line is finished only now: the last one's value is the Registry's to write.
    if (this.empty) {
      this.text = series;
      this.empty = false;
    } else {
      this.text += ` ${sampleValue(this.last)}\n${series}`;
    }
    this.last = value;
  }

  /** What get()/getForPromString() returns as `values`: nothing, or the one value carrying every line. */
  values(): LinesValue[] {
    return this.empty ? [] : [{ metricName: this.text, labels: {}, value: this.last }];
  }
}
