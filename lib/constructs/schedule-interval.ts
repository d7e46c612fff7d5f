import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';

const UNITS: Record<string, (n: number) => Duration> = {
  minute: Duration.minutes, minutes: Duration.minutes,
  hour: Duration.hours, hours: Duration.hours,
  day: Duration.days, days: Duration.days,
};

const ANY = new Set(['*', '?']);
const SINGLE = /^[0-9A-Za-z]+$/;

/**
 * How often a schedule fires, where its expression says it plainly: `rate(n unit)`, or a
 * cron at one time of day that runs every day, on one day of the week, or on one day of
 * the month. Anything else (lists, ranges, steps): undefined.
 */
export function scheduleInterval(schedule: events.Schedule): Duration | undefined {
  const expression = schedule.expressionString.trim();
  const rate = /^rate\(\s*(\d+)\s+([a-z]+)\s*\)$/.exec(expression);
  if (rate) return UNITS[rate[2]]?.(Number(rate[1]));
  const cron = /^cron\((.+)\)$/.exec(expression);
  if (!cron) return undefined;
  const fields = cron[1].trim().split(/\s+/);
  if (fields.length !== 6) return undefined;
  const [minute, hour, dayOfMonth, month, dayOfWeek] = fields;
  if (!SINGLE.test(minute) || !SINGLE.test(hour) || !ANY.has(month)) return undefined;
  if (ANY.has(dayOfMonth) && ANY.has(dayOfWeek)) return Duration.days(1);
  if (ANY.has(dayOfMonth) && SINGLE.test(dayOfWeek)) return Duration.days(7);
  if (SINGLE.test(dayOfMonth) && ANY.has(dayOfWeek)) return Duration.days(31);
  return undefined;
}
