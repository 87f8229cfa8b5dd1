namespace Occystrap.Abstractions;

/// <summary>The name an image is known by: repository plus tag and/or digest.</summary>
/// <param name="Repository">e.g. <c>localhost:5000/occy/edge</c> or <c>docker.io/library/busybox</c>.</param>
public sealed record ImageName(string Repository, string? Tag = null, string? Digest = null)
{
    /// <summary>An image that carries no name (e.g. a docker-save archive made from an image id).</summary>
    public static ImageName Unnamed { get; } = new("");

    public bool IsUnnamed => Repository.Length == 0;

    /// <summary><c>repo:tag</c>, <c>repo@digest</c> or <c>repo</c>.</summary>
    public override string ToString() =>
        IsUnnamed ? "(unnamed image)" : Tag is not null ? $"{Repository}:{Tag}" : Digest is not null ? $"{Repository}@{Digest}" : Repository;

    /// <summary>Splits <c>name[:tag][@digest]</c>; the tag is separated at the last colon after the last slash.</summary>
    public static ImageName Parse(string reference, string? defaultTag = "latest")
    {
        string? digest = null;
        int at = reference.IndexOf('@');
        if (at >= 0)
        {
            digest = reference[(at + 1)..];
            reference = reference[..at];
        }
        int slash = reference.LastIndexOf('/');
        int colon = reference.LastIndexOf(':');
        string? tag = null;
        if (colon > slash)
        {
            tag = reference[(colon + 1)..];
            reference = reference[..colon];
        }
        if (reference.Length == 0) throw new UsageException("an image reference needs a name");
        return new ImageName(reference, tag ?? (digest is null ? defaultTag : null), digest);
    }
}
