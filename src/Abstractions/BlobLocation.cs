namespace Occystrap.Abstractions;

/// <summary>Where a blob lives: a registry host and a repository in it. Sinks that can mount blobs across repositories use it.</summary>
public sealed record BlobLocation(string Registry, string Repository)
{
    /// <summary><c>host/repository</c>, the form the layer cache records.</summary>
    public override string ToString() => $"{Registry}/{Repository}";

    /// <summary>Reads <c>host/repository</c>; null when there is no repository part.</summary>
    public static BlobLocation? TryParse(string? text)
    {
        if (text is null) return null;
        int slash = text.IndexOf('/');
        return slash <= 0 || slash == text.Length - 1 ? null : new BlobLocation(text[..slash], text[(slash + 1)..]);
    }
}
