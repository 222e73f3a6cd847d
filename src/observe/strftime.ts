/**
 * C's strftime(3) in local time, for uWSGI's `log-date = FORMAT` and `%(ftime)`: the
 * conversions glibc documents for the C locale. A conversion it does not know is refused
 * when the format is compiled (never printed as something else), naming the option.
 */
import { ErrorCodes, TsgiError } from '../errors.js';

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

const pad = (n: number, width = 2, fill = '0'): string => String(n).padStart(width, fill);

function zone(d: Date): string {
  const offset = -d.getTimezoneOffset();
  return `${offset >= 0 ? '+' : '-'}${pad(Math.floor(Math.abs(offset) / 60))}${pad(Math.abs(offset) % 60)}`;
}

function zoneName(d: Date): string {
  const name = /\(([^)]*)\)$/.exec(d.toString())?.[1] ?? '';
  // Node names zones in words ("Central European Standard Time"); C gives the abbreviation.
  const abbreviation = name.includes(' ') ? name.replace(/[^A-Z]/g, '') : name;
  return abbreviation || zone(d);
}

function dayOfYear(d: Date): number {
  return Math.round((Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()) - Date.UTC(d.getFullYear(), 0, 1)) / 86_400_000) + 1;
}

const CONVERSIONS: Record<string, (d: Date) => string> = {
  a: (d) => DAYS[d.getDay()]!.slice(0, 3),
  A: (d) => DAYS[d.getDay()]!,
  b: (d) => MONTHS[d.getMonth()]!.slice(0, 3),
  h: (d) => MONTHS[d.getMonth()]!.slice(0, 3),
  B: (d) => MONTHS[d.getMonth()]!,
  C: (d) => pad(Math.floor(d.getFullYear() / 100)),
  d: (d) => pad(d.getDate()),
  e: (d) => pad(d.getDate(), 2, ' '),
  H: (d) => pad(d.getHours()),
  I: (d) => pad(d.getHours() % 12 || 12),
  j: (d) => pad(dayOfYear(d), 3),
  k: (d) => pad(d.getHours(), 2, ' '),
  l: (d) => pad(d.getHours() % 12 || 12, 2, ' '),
  m: (d) => pad(d.getMonth() + 1),
  M: (d) => pad(d.getMinutes()),
  p: (d) => (d.getHours() < 12 ? 'AM' : 'PM'),
  P: (d) => (d.getHours() < 12 ? 'am' : 'pm'),
  S: (d) => pad(d.getSeconds()),
  s: (d) => String(Math.floor(d.getTime() / 1000)),
  u: (d) => String(d.getDay() || 7),
  w: (d) => String(d.getDay()),
  y: (d) => pad(d.getFullYear() % 100),
  Y: (d) => String(d.getFullYear()),
  z: zone,
  Z: zoneName,
  n: () => '\n',
  t: () => '\t',
  '%': () => '%',
};
// The composites, as glibc's C locale spells them.
CONVERSIONS.D = (d) => `${CONVERSIONS.m!(d)}/${CONVERSIONS.d!(d)}/${CONVERSIONS.y!(d)}`;
CONVERSIONS.F = (d) => `${CONVERSIONS.Y!(d)}-${CONVERSIONS.m!(d)}-${CONVERSIONS.d!(d)}`;
CONVERSIONS.R = (d) => `${CONVERSIONS.H!(d)}:${CONVERSIONS.M!(d)}`;
CONVERSIONS.T = (d) => `${CONVERSIONS.H!(d)}:${CONVERSIONS.M!(d)}:${CONVERSIONS.S!(d)}`;
CONVERSIONS.r = (d) => `${CONVERSIONS.I!(d)}:${CONVERSIONS.M!(d)}:${CONVERSIONS.S!(d)} ${CONVERSIONS.p!(d)}`;
CONVERSIONS.c = (d) => `${CONVERSIONS.a!(d)} ${CONVERSIONS.b!(d)} ${CONVERSIONS.e!(d)} ${CONVERSIONS.T!(d)} ${CONVERSIONS.Y!(d)}`;
CONVERSIONS.x = CONVERSIONS.D;
CONVERSIONS.X = CONVERSIONS.T;

/** Compiles `format` (for `option`'s messages); the result formats a time, ms since the
 * epoch, in local time. */
export function compileStrftime(format: string, option: string): (epochMs: number) => string {
  const parts: Array<string | ((d: Date) => string)> = [];
  let text = '';
  for (let i = 0; i < format.length; i++) {
    if (format[i] !== '%') {
      text += format[i];
      continue;
    }
    const letter = format[++i];
    const conversion = letter === undefined ? undefined : CONVERSIONS[letter];
    if (!conversion) {
      const known = Object.keys(CONVERSIONS)
        .map((c) => `%${c}`)
        .join(' ');
      throw new TsgiError(
        ErrorCodes.INVALID_OPTION,
        `${option}: strftime conversion ${letter === undefined ? 'at the end' : `%${letter}`} is not supported; known: ${known}`,
      );
    }
    if (text) parts.push(text);
    text = '';
    parts.push(conversion);
  }
  if (text) parts.push(text);
  return (epochMs) => {
    const d = new Date(epochMs);
    let out = '';
    for (const part of parts) out += typeof part === 'string' ? part : part(d);
    return out;
  };
}

/** `--log-date`'s prefix maker: C's ctime shape for true/yes/on/1 (uWSGI's bare
 * `log-date`), none for false/no/off/0, else the value as a strftime format. */
export function logDate(value: string | undefined): ((epochMs: number) => string) | null {
  if (value === undefined || /^(false|no|off|0)$/i.test(value)) return null;
  if (/^(true|yes|on|1)$/i.test(value)) return compileStrftime('%a %b %e %H:%M:%S %Y', '--log-date');
  return compileStrftime(value, '--log-date');
}
