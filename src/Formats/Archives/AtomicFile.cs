using Occystrap.Abstractions;

namespace Occystrap.Formats.Archives;

/// <summary>
/// A file written beside its destination under a temporary name and renamed over it only on
/// <see cref="Commit"/>; disposed without a commit, the temporary file is deleted. The destination
/// appears whole or not at all.
/// </summary>
public sealed class AtomicFile : IDisposable
{
    private bool _committed;

    public AtomicFile(string destination)
    {
        Destination = Path.GetFullPath(destination);
        // A symlink is followed: the file it names is the one replaced, and the same rules apply to it.
        if (FileKind.Of(Destination) == FileKindValue.Symlink)
            Destination = new FileInfo(Destination).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Destination;
        switch (FileKind.Of(Destination))
        {
            case FileKindValue.Missing or FileKindValue.Regular:
                break;
            case FileKindValue.Directory:
                throw new OccystrapException($"cannot write {destination}: it is a folder");
            case var kind:
                // Renaming over a device or FIFO would replace it with a file (as root, /dev/null among them).
                throw new OccystrapException($"cannot write {destination}: it is a {Describe(kind)}, not a regular file; "
                    + "occystrap writes archives to regular files only (it would rename a file over it)");
        }
        string dir = Path.GetDirectoryName(Destination)!;
        if (!Directory.Exists(dir)) throw new OccystrapException($"cannot write {destination}: the folder {dir} does not exist");
        if (Directory.Exists(Destination)) throw new OccystrapException($"cannot write {destination}: it is a folder");
        TempPath = Path.Combine(dir, $".{Path.GetFileName(Destination)}.{Guid.NewGuid():N}.partial");
        Stream = new FileStream(TempPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1024 * 1024);
    }

    /// <summary>Replaces <paramref name="path"/> with <paramref name="content"/> through a temporary file beside it and a rename.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> content)
    {
        using var file = new AtomicFile(path);
        file.Stream.Write(content);
        file.Commit();
    }

    public string Destination { get; }
    public string TempPath { get; }
    public FileStream Stream { get; }

    public void Commit()
    {
        Stream.Flush(flushToDisk: false);
        Stream.Dispose();
        if (FileKind.Of(Destination) is not (FileKindValue.Missing or FileKindValue.Regular))
            throw new OccystrapException($"cannot write {Destination}: something other than a regular file appeared there while it was written");
        File.Move(TempPath, Destination, overwrite: true);
        _committed = true;
    }

    private static string Describe(FileKindValue kind) => kind switch
    {
        FileKindValue.CharacterDevice => "character device",
        FileKindValue.BlockDevice => "block device",
        FileKindValue.Fifo => "FIFO",
        FileKindValue.Socket => "socket",
        _ => "special file",
    };

    public void Dispose()
    {
        try
        {
            // Closing flushes what is buffered; on a full disk that fails, and the partial file must still go.
            Stream.Dispose();
        }
        catch (IOException)
        {
        }
        if (!_committed)
        {
            try { File.Delete(TempPath); }
            catch (IOException) { }
        }
    }
}
