import type { QuotaMetric } from "@engram/contract";
import { AppError } from "../lib/errors.ts";

/** 402 for a count the plan bounds (projects, keys): the metric, its limit and the count now. */
export function countLimitExceeded(metric: QuotaMetric, limit: number, used: number, what: string) {
  return new AppError(
    "quota_exceeded",
    `The plan allows ${limit} ${what}; this tenant has ${used}`,
    undefined,
    { metric, limit, used },
  );
}
