import type { Expectation, FuzzClass } from './classes.ts';
import { caseSeed, createRng } from './random.ts';
import type { FuzzSpec, Operation, RowKind } from './spec.ts';

/** A case before it is built: a class on an operation, with its number (which seeds its inputs). */
export interface PlannedCase {
  n: number;
  cls: FuzzClass;
  op: Operation;
  expect: Expectation;
  /** The kind of row the case aims at (the path's id, or what the operation spends), and whose (undefined: none). */
  row: { kind: RowKind; foreign: boolean } | undefined;
}

/** How many cases, and how many of them may wait for the server's time limits. */
export interface PlanOptions {
  seed: number;
  count: number;
  /** At most this many slow cases (default: 1 % of `count`, at least one per slow class). */
  maxSlow?: number;
}

/**
 * Plans `count` cases, reproducibly from `seed`: first every class once (on an operation picked at random), then the
 * valid request of every operation, then every (class, operation) pair in a shuffled order, then random pairs again
 * (their inputs differ: each case's values come from its own seed). Slow cases are capped.
 */
export function planCases(spec: FuzzSpec, classes: readonly FuzzClass[], options: PlanOptions): PlannedCase[] {
  const rng = createRng(options.seed);
  const pairs: [FuzzClass, Operation][] = [];
  for (const cls of classes) {
    for (const op of spec.operations) {
      if (cls.applies(op, spec)) {
        pairs.push([cls, op]);
      }
    }
  }
  const applicable = classes.filter((cls) => pairs.some(([c]) => c === cls));
  const slowClasses = applicable.filter((cls) => cls.slow).length;
  const maxSlow = Math.max(options.maxSlow ?? Math.floor(options.count / 100), slowClasses);

  const order: [FuzzClass, Operation][] = [];
  for (const cls of applicable) {
    order.push(rng.pick(pairs.filter(([c]) => c === cls)));
  }
  const control = applicable.find((cls) => cls.group === 'control');
  if (control) {
    for (const op of spec.operations) {
      order.push([control, op]);
    }
  }
  order.push(...rng.shuffle(pairs));
  while (order.length < options.count * 2 && pairs.length > 0) {
    order.push(rng.pick(pairs));
  }

  const planned: PlannedCase[] = [];
  let slow = 0;
  for (const [cls, op] of order) {
    if (planned.length >= options.count) {
      break;
    }
    if (cls.slow) {
      if (slow >= maxSlow) {
        continue;
      }
      slow++;
    }
    const n = planned.length;
    planned.push({
      n,
      cls,
      op,
      expect: cls.expect(op, spec),
      row: op.row && cls.row !== 'none' ? { kind: op.row, foreign: cls.row === 'foreign' } : undefined,
    });
  }
  return planned;
}

/** The random source of one case's inputs. */
export function caseRng(seed: number, n: number) {
  return createRng(caseSeed(seed, n));
}
