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
        string dir = Path.GetDirectoryName(Destination)!;
        if (!Directory.Exists(dir)) throw new OccystrapException($"cannot write {destination}: the folder {dir} does not exist");
        if (Directory.Exists(Destination)) throw new OccystrapException($"cannot write {destination}: it is a folder");
        TempPath = Path.Combine(dir, $".{Path.GetFileName(Destination)}.{Guid.NewGuid():N}.partial");
        Stream = new FileStream(TempPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1024 * 1024);
    }

    public string Destination { get; }
    public string TempPath { get; }
    public FileStream Stream { get; }

    public void Commit()
    {
        Stream.Flush(flushToDisk: false);
        Stream.Dispose();
        File.Move(TempPath, Destination, overwrite: true);
        _committed = true;
    }

    public void Dispose()
    {
        Stream.Dispose();
        if (!_committed)
        {
            try { File.Delete(TempPath); }
            catch (IOException) { }
        }
    }
}
