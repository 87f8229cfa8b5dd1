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

    private static void MakeWritable(DirectoryInfo dir)
    {
        dir.UnixFileMode |= UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        foreach (var sub in dir.EnumerateDirectories())
            if (sub.LinkTarget is null) MakeWritable(sub);
    }
}
