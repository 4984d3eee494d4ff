import { useState } from 'preact/hooks';

/** A choice the page remembers across visits (list or grid), in localStorage; nothing secret. */
export function useStoredState<T extends string>(
  key: string,
  allowed: readonly T[],
  initial: T,
): [T, (value: T) => void] {
  const [value, setValue] = useState<T>(() => {
    const stored = localStorage.getItem(key);
    return allowed.includes(stored as T) ? (stored as T) : initial;
  });
  const set = (next: T) => {
    localStorage.setItem(key, next);
    setValue(next);
  };
  return [value, set];
}
