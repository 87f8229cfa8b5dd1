namespace Occystrap.Formats.Folders;

/// <summary>Removes folder trees that occystrap built, symlinks removed and never followed.</summary>
internal static class Trees
{
    public static void Remove(string path)
    {
        if (!Directory.Exists(path)) return;
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (UnauthorizedAccessException)
        {
            // Not root, and an extracted folder is read-only (0555): open the folders up, then delete.
            MakeWritable(new DirectoryInfo(path));
            Directory.Delete(path, recursive: true);
        }
    }

    /// <summary>Removes an unfinished output, logging instead of failing when it cannot (the run has failed already).</summary>
    public static void RemoveUnfinished(string path, Microsoft.Extensions.Logging.ILogger log)
    {
        try
        {
            Remove(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Microsoft.Extensions.Logging.LoggerExtensions.LogWarning(log, "could not remove the unfinished output {Folder}: {Reason}", path, e.Message);
        }
    }

    /// <summary>Puts <paramref name="built"/> at <paramref name="destination"/>, replacing what stands there (an earlier result).</summary>
    public static void Replace(string built, string destination)
    {
        string? old = null;
        if (Directory.Exists(destination))
        {
            old = Path.Combine(Path.GetDirectoryName(destination)!, $".{Path.GetFileName(destination)}.{Guid.NewGuid():N}.old.partial");
            Directory.Move(destination, old);
        }
        Directory.Move(built, destination);
        if (old is not null) Remove(old);
    }

    /// <summary>A hidden folder beside <paramref name="destination"/> to build it in: <c>.NAME.RANDOM.partial</c>.</summary>
    public static string Beside(string destination) =>
        Path.Combine(Path.GetDirectoryName(destination)!, $".{Path.GetFileName(destination)}.{Guid.NewGuid():N}.partial");

    /// <summary>
    /// Checks that <paramref name="folder"/> can be written as an output: its parent exists, and it is
    /// missing, empty (but for other writers' hidden work files) or something <paramref name="isOurs"/> accepts.
    /// </summary>
    public static void CheckDestination(string folder, string given, Func<string, bool> isOurs, string kind)
    {
        if (File.Exists(folder) || Archives.FileKind.Of(folder) is not (Archives.FileKindValue.Missing or Archives.FileKindValue.Directory))
            throw new Abstractions.OccystrapException($"cannot write {given}: it is not a folder");
        string? parent = Path.GetDirectoryName(folder);
        if (parent is null || !Directory.Exists(parent)) throw new Abstractions.OccystrapException($"cannot write {given}: the folder {parent} does not exist");
        // Asked after looking at the entries: another writer may have made the folder one of ours meanwhile.
        if (Directory.Exists(folder)
            && Directory.EnumerateFileSystemEntries(folder).Any(e => !IsWorkFile(Path.GetFileName(e)))
            && !isOurs(folder))
            throw new Abstractions.OccystrapException($"{given} is a folder that is neither empty nor {kind}; refusing to write into it");
    }

    /// <summary>Hidden files of writers at work (".NAME.….partial", the catalog's lock) do not make a folder foreign.</summary>
    public static bool IsWorkFile(string name) =>
        name == ImageFolder.LockFile || (name.StartsWith('.') && name.EndsWith(".partial", StringComparison.Ordinal));

    private static void MakeWritable(DirectoryInfo dir)
    {
        if (OperatingSystem.IsWindows()) return;
        dir.UnixFileMode |= UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        foreach (var sub in dir.EnumerateDirectories())
            if (sub.LinkTarget is null) MakeWritable(sub);
    }
}
