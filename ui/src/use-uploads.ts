import { useEffect, useState } from 'preact/hooks';
import type { UploadItem, UploadQueue } from './upload-queue';

/** The queue's rows, re-rendered on every change (progress included). */
export function useUploads(queue: UploadQueue): readonly UploadItem[] {
  const [items, setItems] = useState(queue.items);
  useEffect(() => {
    setItems(queue.items);
    return queue.subscribe(() => setItems(queue.items));
  }, [queue]);
  return items;
}
