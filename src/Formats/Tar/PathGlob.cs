using System.Text;
using System.Text.RegularExpressions;

namespace Occystrap.Formats.Tar;

/// <summary>
/// Globs over paths inside a layer. <c>*</c> and <c>?</c> stay within one path element, <c>**</c>
/// spans any number of elements (including none), <c>[abc]</c>/<c>[!abc]</c> are classes. A pattern
/// with no <c>/</c> matches the last element at any depth (<c>*.pyc</c> matches <c>app/x.pyc</c>).
/// Paths are compared without a leading <c>./</c> or <c>/</c> and without a trailing <c>/</c>.
/// </summary>
public sealed class PathGlob
{
    private readonly Regex _regex;

    public PathGlob(string pattern)
    {
        Pattern = pattern;
        string p = Normalize(pattern);
        if (!p.Contains('/') && !p.StartsWith("**", StringComparison.Ordinal)) p = "**/" + p;
        _regex = new Regex("^" + Translate(p) + "$", RegexOptions.CultureInvariant | RegexOptions.Singleline, TimeSpan.FromSeconds(1));
    }

    public string Pattern { get; }

    public bool IsMatch(string path) => _regex.IsMatch(Normalize(path));

    public static string Normalize(string path)
    {
        string p = path;
        while (p.StartsWith("./", StringComparison.Ordinal)) p = p[2..];
        return p.TrimStart('/').TrimEnd('/');
    }

    private static string Translate(string glob)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < glob.Length; i++)
        {
            char c = glob[i];
            if (c == '*' && i + 1 < glob.Length && glob[i + 1] == '*')
            {
                bool slashAfter = i + 2 < glob.Length && glob[i + 2] == '/';
                bool atStart = i == 0 || glob[i - 1] == '/';
                if (atStart && slashAfter)
                {
                    sb.Append("(?:.*/)?");   // "**/" : zero or more whole elements
                    i += 2;
                }
                else if (atStart && i + 2 == glob.Length)
                {
                    if (sb.Length >= 1 && sb[^1] == '/') sb.Length--;   // "a/**" also matches "a" itself
                    sb.Append("(?:/.*)?");
                    if (i == 0) sb.Clear().Append(".*");
                    i += 1;
                }
                else
                {
                    sb.Append(".*");
                    i += 1;
                }
            }
            else if (c == '*') sb.Append("[^/]*");
            else if (c == '?') sb.Append("[^/]");
            else if (c == '[')
            {
                int end = glob.IndexOf(']', i + 2);
                if (end < 0)
                {
                    sb.Append(@"\[");
                    continue;
                }
                string body = glob[(i + 1)..end];
                bool negate = body.StartsWith('!') || body.StartsWith('^');
                if (negate) body = body[1..];
                sb.Append('[').Append(negate ? "^/" : "").Append(body.Replace(@"\", @"\\").Replace("[", @"\[")).Append(']');
                i = end;
            }
            else sb.Append(Regex.Escape(c.ToString()));
        }
        return sb.ToString();
    }
}
