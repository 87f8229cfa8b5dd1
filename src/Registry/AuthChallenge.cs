namespace Occystrap.Registry;

/// <summary>
/// One <c>WWW-Authenticate</c> challenge: its scheme and parameters, in any order, quoted or not
/// (<c>Bearer realm="https://auth/token",service="registry",scope="repository:x:pull"</c>).
/// </summary>
public sealed record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    public string? this[string name] => Parameters.TryGetValue(name, out var v) ? v : null;

    public static AuthChallenge? Parse(string header)
    {
        string s = header.Trim();
        int space = s.IndexOf(' ');
        string scheme = space < 0 ? s : s[..space];
        var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        int i = space < 0 ? s.Length : space + 1;
        while (i < s.Length)
        {
            while (i < s.Length && (s[i] == ' ' || s[i] == ',')) i++;
            int eq = s.IndexOf('=', i);
            if (eq < 0) break;
            string key = s[i..eq].Trim();
            i = eq + 1;
            string value;
            if (i < s.Length && s[i] == '"')
            {
                var sb = new System.Text.StringBuilder();
                i++;
                while (i < s.Length && s[i] != '"')
                {
                    if (s[i] == '\\' && i + 1 < s.Length) i++;
                    sb.Append(s[i++]);
                }
                i++;
                value = sb.ToString();
            }
            else
            {
                int end = s.IndexOf(',', i);
                if (end < 0) end = s.Length;
                value = s[i..end].Trim();
                i = end;
            }
            if (key.Length > 0) parameters[key] = value;
        }
        return scheme.Length == 0 ? null : new AuthChallenge(scheme, parameters);
    }
}
