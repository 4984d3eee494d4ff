/** A file to upload and its path below the folder it goes to ("photos/a.jpg" from a dropped folder). */
export interface PickedFile {
  file: File;
  path: string;
}

const fromEntry = (entry: FileSystemFileEntry) =>
  new Promise<File>((resolve, reject) => entry.file(resolve, reject));

/** Every entry of a dropped folder: readEntries answers in batches until it answers none. */
async function readAll(dir: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = dir.createReader();
  const all: FileSystemEntry[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) =>
      reader.readEntries(resolve, reject),
    );
    if (!batch.length) return all;
    all.push(...batch);
  }
}

async function walk(entry: FileSystemEntry, into: string, out: PickedFile[]): Promise<void> {
  if (entry.isFile) {
    out.push({ file: await fromEntry(entry as FileSystemFileEntry), path: `${into}${entry.name}` });
  } else if (entry.isDirectory) {
    for (const child of await readAll(entry as FileSystemDirectoryEntry)) {
      await walk(child, `${into}${entry.name}/`, out);
    }
  }
}

/**
 * The files of a drop, folders included (walked, keeping their structure). The items must be read
 * while the drop event runs, so this is called from the handler and awaited after.
 */
export function droppedFiles(data: DataTransfer): Promise<PickedFile[]> {
  const folders: FileSystemEntry[] = [];
  const files: PickedFile[] = [];
  for (const item of Array.from(data.items)) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry();
    const file = item.getAsFile();
    if (entry?.isDirectory) folders.push(entry);
    else if (file) files.push({ file, path: file.name });
  }
  // Some sources fill `files` but not `items`.
  if (!files.length && !folders.length) {
    for (const file of Array.from(data.files)) files.push({ file, path: file.name });
  }
  return (async () => {
    for (const folder of folders) await walk(folder, '', files);
    return files;
  })();
}
