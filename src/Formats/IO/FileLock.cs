using Occystrap.Abstractions;

namespace Occystrap.Formats.IO;

/// <summary>
/// An exclusive lock between processes: a lock file held open with no sharing. The file stays after
/// release (deleting it would let two processes lock two different files of the same name).
/// </summary>
public static class FileLock
{
    /// <summary>Waits up to a minute for the lock; dispose the result to release it.</summary>
    /// <param name="what">What is locked, for the error when the wait runs out.</param>
    public static FileStream Acquire(string path, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(20);
            }
            catch (IOException e)
            {
                throw new OccystrapException($"{what} stayed locked for a minute ({path}): {e.Message}");
            }
        }
    }
}
