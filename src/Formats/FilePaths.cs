using Occystrap.Abstractions;

namespace Occystrap.Formats;

/// <summary>File paths in URIs: <c>tar://x.tar</c>, <c>tar://./x.tar</c>, <c>tar:///abs/x.tar</c>, <c>tar://localhost/abs/x.tar</c>.</summary>
public static class FilePaths
{
    public static string FromUriTarget(string target, string scheme)
    {
        if (target.Length == 0) throw new UsageException($"{scheme} needs a path, e.g. {scheme}image.tar");
        if (target.StartsWith("localhost/", StringComparison.Ordinal)) target = target["localhost".Length..];
        if (target.StartsWith('~') && (target.Length == 1 || target[1] == '/'))
            target = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) + target[1..];
        return target;
    }
}
