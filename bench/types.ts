/** One figure of the scoreboard: a value, the baseline measured in the same run, their ratio. */
export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  baseline: number;
  ratio: number;
  /** What the baseline is, and the target when there is one. */
  note?: string;
}

/** A bench module: runs its measurements and returns its rows. */
export type BenchModule = () => Promise<BenchRow[]>;
