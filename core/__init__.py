"""StyleLens core library: catalog, encoders, index and search. Never imports streamlit."""
