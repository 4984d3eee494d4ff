import type { ComponentChildren } from 'preact';
import { useRef, useState } from 'preact/hooks';
import { droppedFiles, type PickedFile } from '../dropped-files';

interface Props {
  /** Said while files are dragged over: where they will go. */
  target: string;
  onFiles: (files: PickedFile[]) => void;
  children: ComponentChildren;
}

const carriesFiles = (e: DragEvent) => e.dataTransfer?.types.includes('Files') === true;

/** The file area: files (and folders) dropped anywhere on it are uploaded into the open folder. */
export function DropZone({ target, onFiles, children }: Props) {
  const [over, setOver] = useState(false);
  // dragenter/dragleave fire for every child crossed: count them to know when the drag has left.
  const depth = useRef(0);

  return (
    <section
      id="drop-zone"
      class={`browser${over ? ' dragging' : ''}`}
      aria-label="Files"
      onDragEnter={(e) => {
        if (!carriesFiles(e)) return;
        depth.current++;
        setOver(true);
      }}
      onDragOver={(e) => {
        if (!carriesFiles(e)) return;
        e.preventDefault();
        if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
      }}
      onDragLeave={() => {
        depth.current = Math.max(0, depth.current - 1);
        if (depth.current === 0) setOver(false);
      }}
      onDrop={(e) => {
        e.preventDefault();
        depth.current = 0;
        setOver(false);
        if (e.dataTransfer) void droppedFiles(e.dataTransfer).then((files) => files.length && onFiles(files));
      }}
    >
      {children}
      {over && (
        <div class="drop-overlay" aria-hidden="true">
          Drop to upload to {target}
        </div>
      )}
    </section>
  );
}
